using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Parley.Server.WebSockets;

/// <summary>
/// The WebSocket's byte stream over a Kestrel connection's transport pipes, for sockets upgraded by
/// <see cref="DirectUpgrade"/>. Writes are copied into the output pipe; between <see cref="BeginBatch"/> and
/// <see cref="EndBatchAsync"/> they are not flushed, so several queued frames leave in one flush — one socket write.
/// Outside a batch (pings, pongs, close frames written by the runtime's WebSocket) every write is flushed at once.
/// Reads come from the input pipe without a buffer of their own: a zero-byte read waits for data and consumes nothing.
/// </summary>
internal sealed class PipeStream(IDuplexPipe transport) : Stream
{
    // The WebSocket serializes its own writes; this lock also orders them with the batch's closing flush.
    private readonly SemaphoreSlim _write = new(1, 1);
    private bool _batching;
    private int _disposed;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Writes from now on are buffered in the pipe until <see cref="EndBatchAsync"/>.</summary>
    public void BeginBatch() => Volatile.Write(ref _batching, true);

    /// <summary>Ends the batch and flushes everything written since <see cref="BeginBatch"/> in one go.</summary>
    public async ValueTask EndBatchAsync()
    {
        await _write.WaitAsync();
        try
        {
            Volatile.Write(ref _batching, false);
            var result = await transport.Output.FlushAsync();
            if (result.IsCanceled || result.IsCompleted)
            {
                throw new IOException("the connection is closed");
            }
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>
    /// Writes complete text frames (RFC 6455 section 5.2: FIN, opcode 1, unmasked as a server sends them) straight into
    /// the output pipe and flushes them together: one copy of each payload, one socket write for the batch. Holds the
    /// write lock throughout, so frames the runtime's WebSocket writes itself (pings, pongs, close) never interleave.
    /// </summary>
    public async ValueTask WriteTextFramesAsync(ReadOnlyMemory<byte>[] frames, int count, IWriteStop stop)
    {
        await _write.WaitAsync();
        try
        {
            var output = transport.Output;
            for (var i = 0; i < count && !stop.StopWriting; i++)
            {
                var payload = frames[i].Span;
                var header = output.GetSpan(10);
                header[0] = 0x81;
                int headerLength;
                if (payload.Length < 126)
                {
                    header[1] = (byte)payload.Length;
                    headerLength = 2;
                }
                else if (payload.Length <= ushort.MaxValue)
                {
                    header[1] = 126;
                    BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)payload.Length);
                    headerLength = 4;
                }
                else
                {
                    header[1] = 127;
                    BinaryPrimitives.WriteUInt64BigEndian(header[2..], (ulong)payload.Length);
                    headerLength = 10;
                }

                output.Advance(headerLength);
                output.Write(payload);
            }

            var result = await output.FlushAsync();
            if (result.IsCanceled || result.IsCompleted)
            {
                throw new IOException("the connection is closed");
            }
        }
        finally
        {
            _write.Release();
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            // Cancelling a pending read wakes only that read: once disposed, every read is end of stream.
            return 0;
        }

        var input = transport.Input;
        var result = await input.ReadAsync(cancellationToken);
        var buffer = result.Buffer;
        if (result.IsCanceled || (buffer.IsEmpty && result.IsCompleted))
        {
            input.AdvanceTo(buffer.End);
            return 0;
        }

        if (destination.IsEmpty)
        {
            // Zero-byte read: data is there; leave it in the pipe.
            input.AdvanceTo(buffer.Start);
            return 0;
        }

        var n = (int)Math.Min(buffer.Length, destination.Length);
        buffer.Slice(0, n).CopyTo(destination.Span);
        input.AdvanceTo(buffer.GetPosition(n));
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        await _write.WaitAsync(cancellationToken);
        try
        {
            transport.Output.Write(source.Span);
            if (!Volatile.Read(ref _batching))
            {
                var result = await transport.Output.FlushAsync(cancellationToken);
                if (result.IsCanceled)
                {
                    throw new IOException("the connection is closed");
                }
            }
        }
        finally
        {
            _write.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>The WebSocket is done (closed or aborted): wake a pending read or a flush stuck behind a peer that does not read.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            transport.Input.CancelPendingRead();
            transport.Output.CancelPendingFlush();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Asked before each frame of a batch: true once the rest of the batch is to be dropped.</summary>
internal interface IWriteStop
{
    bool StopWriting { get; }
}
