using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Parley.Server.WebSockets;

/// <summary>
/// A WebSocket's TCP socket as the byte pipes a <see cref="WebSocketConnection"/> runs on, with nothing between them and
/// the socket: no pipe objects, send loop or buffer while idle. Reading waits for data with a zero-byte receive and only
/// then rents a buffer, which goes back as soon as the reader has consumed all of it; a flush sends on the flushing thread
/// (non-blocking) and waits only for what the kernel did not take. Written for the one reader and one writer of a
/// <see cref="WebSocketConnection"/> (its receive loop and its drain), not as a general pipe: a pending read or flush
/// cannot be cancelled except by <see cref="Abort"/>.
/// </summary>
internal sealed class DirectSocket : IDuplexPipe, ILiveLinked<DirectSocket>
{
    private readonly Socket _socket;
    private int _closed;

    public DirectSocket(Socket socket)
    {
        _socket = socket;
        // Reads and sends try first without waiting; only an empty socket or a full send buffer is awaited.
        _socket.Blocking = false;
        Input = new Reader(socket);
        Output = new Writer(socket);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    /// <summary>Links of the listener's list of open direct sockets (aborted when the listener is disposed).</summary>
    public DirectSocket? LivePrev { get; set; }

    /// <inheritdoc cref="LivePrev"/>
    public DirectSocket? LiveNext { get; set; }

    /// <summary>
    /// Whether bytes have arrived that nothing has read yet: the peer is talking even though the reader has not seen it
    /// (its loop waits for a store or a busy node). One system call; meant for the keep-alive's rare "silent?" question.
    /// </summary>
    public bool HasUnreadInput
    {
        get
        {
            if (Volatile.Read(ref _closed) != 0)
            {
                return false;
            }

            try
            {
                return _socket.Available > 0;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>Tears the connection down at once (a silent peer, one that does not take the close): pending reads and sends fail.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _socket.Dispose();
        }
    }

    /// <summary>Ends the connection after its last bytes were sent: FIN, then the socket is released.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // The peer is gone already.
        }

        _socket.Dispose();
    }

    private static IOException Lost(SocketError error) => new($"the connection failed: {error}", new SocketException((int)error));

    /// <summary>Received bytes in one pooled array between <c>_start</c> and <c>_end</c>; none held while all is consumed.</summary>
    private sealed class Reader(Socket socket) : PipeReader
    {
        private const int InitialBuffer = 4 * 1024;

        // Enough for the largest WebSocket message (64 KiB) and the start of the next frame.
        private const int MaxBuffered = 256 * 1024;

        private byte[]? _buffer;
        private int _start;
        private int _end;
        private bool _examinedAll;
        private bool _ended;
        private bool _completed;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            if (HasUnexamined() || _ended)
            {
                return new ValueTask<ReadResult>(Current());
            }

            // No receive attempt first: the zero-byte receive below tries at once and returns at once when data is there.
            return WaitAsync(cancellationToken);
        }

        public override bool TryRead(out ReadResult result)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            if (HasUnexamined() || _ended || TryReceive())
            {
                result = Current();
                return true;
            }

            result = default;
            return false;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            if (_buffer is null)
            {
                return;
            }

            // Positions of a sequence over an array carry the array index itself.
            var c = consumed.GetObject() is null ? _start : consumed.GetInteger();
            var e = examined.GetObject() is null ? c : examined.GetInteger();
            if (c < _start || c > _end || e < c || e > _end)
            {
                throw new InvalidOperationException("position outside the last read");
            }

            _start = c;
            _examinedAll = e == _end;
            if (_start == _end)
            {
                ReturnBuffer();
            }
        }

        public override void CancelPendingRead() =>
            throw new NotSupportedException("a direct socket's read ends by data, the peer's FIN or Abort");

        public override void Complete(Exception? exception = null)
        {
            _completed = true;
            ReturnBuffer();
        }

        private bool HasUnexamined() => _end > _start && !_examinedAll;

        private ReadResult Current() => new(
            _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start),
            isCanceled: false,
            isCompleted: _ended);

        private async ValueTask<ReadResult> WaitAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                try
                {
                    // A zero-byte receive waits until the socket is readable without holding a buffer.
                    await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
                }
                catch (SocketException e)
                {
                    throw Lost(e.SocketErrorCode);
                }

                ObjectDisposedException.ThrowIf(_completed, this);
                if (TryReceive())
                {
                    return Current();
                }
            }
        }

        /// <summary>Takes what the socket has without waiting; false when it has nothing yet.</summary>
        private bool TryReceive()
        {
            MakeRoom();
            var n = socket.Receive(_buffer!, _end, _buffer!.Length - _end, SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                if (_start == _end)
                {
                    ReturnBuffer();
                }

                return false;
            }

            if (error != SocketError.Success)
            {
                throw Lost(error);
            }

            if (n == 0)
            {
                _ended = true;
            }

            _end += n;
            _examinedAll = false;
            return true;
        }

        private void MakeRoom()
        {
            if (_buffer is null)
            {
                _buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
                _start = _end = 0;
                return;
            }

            if (_end < _buffer.Length)
            {
                return;
            }

            var kept = _end - _start;
            var target = _buffer;
            if (kept * 2 > _buffer.Length)
            {
                if (_buffer.Length >= MaxBuffered)
                {
                    throw new IOException("more unconsumed input than a WebSocket message can be");
                }

                target = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            }

            Buffer.BlockCopy(_buffer, _start, target, 0, kept);
            if (!ReferenceEquals(target, _buffer))
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = target;
            }

            _start = 0;
            _end = kept;
        }

        private void ReturnBuffer()
        {
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }

            _start = _end = 0;
            _examinedAll = false;
        }
    }

    /// <summary>Bytes written since the last flush, in one pooled array; a flush sends them and lets the array go.</summary>
    private sealed class Writer(Socket socket) : PipeWriter
    {
        private const int InitialBuffer = 4 * 1024;

        private byte[]? _buffer;
        private int _written;
        private bool _completed;

        public override bool CanGetUnflushedBytes => true;

        public override long UnflushedBytes => _written;

        public override Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_written);

        public override Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_written);

        public override void Advance(int bytes)
        {
            if (_buffer is null || bytes < 0 || _written + bytes > _buffer.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(bytes));
            }

            _written += bytes;
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            var sent = 0;
            while (sent < _written)
            {
                var n = socket.Send(_buffer!, sent, _written - sent, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    // The kernel's send buffer is full (a slow reader): wait for it to take the rest.
                    return SendRestAsync(sent, cancellationToken);
                }

                if (error != SocketError.Success)
                {
                    Release();
                    throw Lost(error);
                }

                sent += n;
            }

            Release();
            return default;
        }

        public override void CancelPendingFlush() =>
            throw new NotSupportedException("a direct socket's flush ends when the kernel takes the bytes, or by Abort");

        public override void Complete(Exception? exception = null)
        {
            // Unflushed bytes are dropped: every caller flushes what it means to send.
            _completed = true;
            Release();
        }

        private byte[] Reserve(int sizeHint)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            var needed = _written + Math.Max(sizeHint, 1);
            if (_buffer is null)
            {
                _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, InitialBuffer));
            }
            else if (needed > _buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
                Buffer.BlockCopy(_buffer, 0, bigger, 0, _written);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }

            return _buffer;
        }

        private async ValueTask<FlushResult> SendRestAsync(int sent, CancellationToken cancellationToken)
        {
            try
            {
                while (sent < _written)
                {
                    sent += await socket.SendAsync(_buffer.AsMemory(sent, _written - sent), SocketFlags.None, cancellationToken);
                }
            }
            catch (SocketException e)
            {
                throw Lost(e.SocketErrorCode);
            }
            finally
            {
                Release();
            }

            return default;
        }

        private void Release()
        {
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }

            _written = 0;
        }
    }
}
