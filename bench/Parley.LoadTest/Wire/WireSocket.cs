using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Parley.LoadTest.Wire;

/// <summary>Called with each whole message received; the span is valid only during the call.</summary>
public delegate void MessageHandler(ReadOnlySpan<byte> message);

/// <summary>
/// The client side of RFC 6455 on a bare socket, as much as a load generator needs: masked text frames out, whole
/// messages in (fragments joined), pings answered with pongs, a close frame or end of stream ends it. Messages are
/// handed to the handler straight from the receive buffer, several per socket read when they arrived together.
/// </summary>
/// <remarks>
/// The runtime's <c>ManagedWebSocket</c> costs an asynchronous receive call per message: a reconnect storm's presence
/// news (each of 10,000 clients hears its room's 99 others) made that a third of the generator's CPU, taken from the
/// servers it measures on the same two cores. Sends are synchronous, under a lock: they are small, and loopback
/// takes them at once.
/// </remarks>
public sealed class WireSocket
{
    private const int MaxMessage = 16 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly Lock _sendLock = new();
    private readonly byte[] _mask = RandomNumberGenerator.GetBytes(4);
    private byte[] _buffer;
    private int _start;
    private int _end;
    private byte[]? _fragments;
    private int _fragmentLength;
    private bool _closed;

    public WireSocket(Socket socket, ReadOnlySpan<byte> received)
    {
        _socket = socket;
        _buffer = new byte[Math.Max(2048, received.Length)];
        received.CopyTo(_buffer);
        _end = received.Length;
    }

    /// <summary>Sends one text message in one frame.</summary>
    public void SendText(ReadOnlySpan<byte> payload) => SendFrame(0x1, payload);

    /// <summary>Drops the connection at once (no close handshake), as a client whose network went away.</summary>
    public void Abort()
    {
        _closed = true;
        _socket.Dispose();
    }

    /// <summary>Receives until the connection ends; returns normally on a close frame or end of stream.</summary>
    public async Task RunAsync(MessageHandler onMessage)
    {
        while (true)
        {
            while (TryHandleFrame(onMessage))
            {
                if (_closed)
                {
                    return;
                }
            }

            if (_start == _end)
            {
                _start = _end = 0;
            }
            else if (_end == _buffer.Length)
            {
                // Room for the rest of a frame: move what is there to the front, or grow when it already is.
                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                else
                {
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }
            }

            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None);
            if (n == 0)
            {
                return;
            }

            _end += n;
        }
    }

    private bool TryHandleFrame(MessageHandler onMessage)
    {
        var data = _buffer.AsSpan(_start, _end - _start);
        if (data.Length < 2)
        {
            return false;
        }

        var fin = (data[0] & 0x80) != 0;
        var opcode = data[0] & 0x0F;
        var masked = (data[1] & 0x80) != 0;
        long length = data[1] & 0x7F;
        var header = 2;
        if (length == 126)
        {
            if (data.Length < 4)
            {
                return false;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
            header = 4;
        }
        else if (length == 127)
        {
            if (data.Length < 10)
            {
                return false;
            }

            length = (long)BinaryPrimitives.ReadUInt64BigEndian(data[2..]);
            header = 10;
        }

        if (length > MaxMessage)
        {
            throw new IOException($"frame of {length} bytes");
        }

        var maskAt = header;
        if (masked)
        {
            header += 4;
        }

        if (data.Length < header + length)
        {
            // Not all here yet; make sure the buffer can hold the whole frame.
            if (header + length > _buffer.Length)
            {
                var bigger = new byte[Math.Max(_buffer.Length * 2, (int)(header + length))];
                Buffer.BlockCopy(_buffer, _start, bigger, 0, _end - _start);
                _end -= _start;
                _start = 0;
                _buffer = bigger;
            }

            return false;
        }

        var payload = data.Slice(header, (int)length);
        if (masked)
        {
            var key = data.Slice(maskAt, 4);
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= key[i & 3];
            }
        }

        _start += header + (int)length;
        switch (opcode)
        {
            case 0x1 or 0x2 when fin && _fragments is null:
                onMessage(payload);
                break;
            case 0x1 or 0x2 or 0x0:
                Append(payload);
                if (fin)
                {
                    var message = _fragments.AsSpan(0, _fragmentLength);
                    _fragments = null;
                    _fragmentLength = 0;
                    onMessage(message);
                }

                break;
            case 0x8:
                _closed = true;
                break;
            case 0x9:
                SendFrame(0xA, payload);
                break;
        }

        return true;
    }

    private void Append(ReadOnlySpan<byte> part)
    {
        _fragments ??= new byte[Math.Max(256, part.Length)];
        if (_fragmentLength + part.Length > _fragments.Length)
        {
            Array.Resize(ref _fragments, Math.Max(_fragments.Length * 2, _fragmentLength + part.Length));
        }

        part.CopyTo(_fragments.AsSpan(_fragmentLength));
        _fragmentLength += part.Length;
    }

    private void SendFrame(int opcode, ReadOnlySpan<byte> payload)
    {
        var header = 2 + (payload.Length < 126 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8) + 4;
        var frame = ArrayPool<byte>.Shared.Rent(header + payload.Length);
        try
        {
            frame[0] = (byte)(0x80 | opcode);
            if (payload.Length < 126)
            {
                frame[1] = (byte)(0x80 | payload.Length);
            }
            else if (payload.Length <= ushort.MaxValue)
            {
                frame[1] = 0x80 | 126;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
            }
            else
            {
                frame[1] = 0x80 | 127;
                BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
            }

            _mask.CopyTo(frame.AsSpan(header - 4));
            var body = frame.AsSpan(header, payload.Length);
            for (var i = 0; i < payload.Length; i++)
            {
                body[i] = (byte)(payload[i] ^ _mask[i & 3]);
            }

            lock (_sendLock)
            {
                var sent = 0;
                var total = header + payload.Length;
                while (sent < total)
                {
                    sent += _socket.Send(frame, sent, total - sent, SocketFlags.None);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }
}
