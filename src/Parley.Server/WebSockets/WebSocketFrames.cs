using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Server.WebSockets;

/// <summary>The WebSocket opcodes of RFC 6455 section 5.2.</summary>
internal static class Opcode
{
    public const byte Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA;

    /// <summary>Close, ping and pong: at most 125 bytes of payload, never fragmented.</summary>
    public static bool IsControl(byte opcode) => opcode >= 0x8;

    public static bool IsKnown(byte opcode) => opcode is Continuation or Text or Binary or Close or Ping or Pong;
}

/// <summary>The close codes a WebSocket peer itself may send (RFC 6455 section 7.4), besides the protocol's own.</summary>
internal static class WsCloseCodes
{
    public const int Normal = 1000, GoingAway = 1001, ProtocolError = 1002, InvalidPayload = 1007, PolicyViolation = 1008, EndpointUnavailable = 1001, InternalError = 1011;

    /// <summary>A code a peer may put in its close frame: 1000–1003, 1007–1014 or 3000–4999.</summary>
    public static bool IsValidFromPeer(int code) => code is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);
}

/// <summary>One frame's header as a client sent it.</summary>
/// <param name="Fin">The last frame of its message.</param>
/// <param name="Opcode">See <see cref="WebSockets.Opcode"/>.</param>
/// <param name="HeaderLength">Bytes before the payload: 2–14.</param>
/// <param name="PayloadLength">Declared payload bytes (up to 2^63 - 1; the caller decides what it accepts).</param>
/// <param name="Mask">The masking key, in wire order.</param>
internal readonly record struct FrameHeader(bool Fin, byte Opcode, int HeaderLength, long PayloadLength, uint Mask);

/// <summary>
/// The WebSocket wire format (RFC 6455) as a server speaks it, with no extensions: client frames' headers checked and
/// their payloads unmasked, server frames (unmasked) written into a pipe, and the opening handshake's accept key.
/// </summary>
internal static class WebSocketFrames
{
    /// <summary>The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.</summary>
    public const int MaxHeaderLength = 14;

    /// <summary>The longest payload of a close, ping or pong frame.</summary>
    public const int MaxControlPayload = 125;

    /// <summary>The result of <see cref="TryReadHeader"/>.</summary>
    public enum HeaderStatus
    {
        /// <summary>The buffer holds less than the whole header.</summary>
        NeedMore,

        /// <summary>A well-formed client frame header.</summary>
        Ok,

        /// <summary>Not a frame a client may send: the connection is failed with 1002.</summary>
        Violation,
    }

    /// <summary>
    /// Reads a client frame's header from the start of <paramref name="buffer"/>. A header is a violation when it sets a
    /// reserved bit (nothing was negotiated), uses a reserved opcode, is not masked (clients must mask, section 5.1), is a
    /// fragmented or over-long control frame (section 5.5), or declares a length with the top bit set.
    /// </summary>
    public static HeaderStatus TryReadHeader(in ReadOnlySequence<byte> buffer, out FrameHeader header, out string violation)
    {
        header = default;
        violation = "";
        if (buffer.Length < 2)
        {
            return HeaderStatus.NeedMore;
        }

        Span<byte> bytes = stackalloc byte[MaxHeaderLength];
        var available = (int)Math.Min(buffer.Length, MaxHeaderLength);
        buffer.Slice(0, available).CopyTo(bytes);
        var fin = (bytes[0] & 0x80) != 0;
        var opcode = (byte)(bytes[0] & 0x0F);
        if ((bytes[0] & 0x70) != 0)
        {
            violation = "reserved bits set";
            return HeaderStatus.Violation;
        }

        if (!Opcode.IsKnown(opcode))
        {
            violation = "reserved opcode";
            return HeaderStatus.Violation;
        }

        if ((bytes[1] & 0x80) == 0)
        {
            violation = "client frames must be masked";
            return HeaderStatus.Violation;
        }

        var length7 = bytes[1] & 0x7F;
        var lengthBytes = length7 switch { 126 => 2, 127 => 8, _ => 0 };
        var headerLength = 2 + lengthBytes + 4;
        if (Opcode.IsControl(opcode) && (!fin || length7 > MaxControlPayload))
        {
            violation = "control frames must be unfragmented and at most 125 bytes";
            return HeaderStatus.Violation;
        }

        if (available < headerLength)
        {
            return HeaderStatus.NeedMore;
        }

        long length = length7 switch
        {
            126 => BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]),
            127 => (long)BinaryPrimitives.ReadUInt64BigEndian(bytes[2..]),
            _ => length7,
        };
        if (length < 0)
        {
            violation = "payload length with the top bit set";
            return HeaderStatus.Violation;
        }

        var mask = BinaryPrimitives.ReadUInt32BigEndian(bytes[(2 + lengthBytes)..]);
        header = new FrameHeader(fin, opcode, headerLength, length, mask);
        return HeaderStatus.Ok;
    }

    /// <summary>Unmasks a whole frame's payload in place (the key repeats every four bytes from its first byte).</summary>
    public static void Unmask(Span<byte> payload, uint mask)
    {
        Span<byte> key = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(key, mask);
        var i = 0;
        if (payload.Length >= 8)
        {
            // Eight bytes at a time: the key in memory order, repeated.
            var k32 = BitConverter.ToUInt32(key);
            var k64 = ((ulong)k32 << 32) | k32;
            for (; i + 8 <= payload.Length; i += 8)
            {
                var word = BitConverter.ToUInt64(payload[i..]) ^ k64;
                BitConverter.TryWriteBytes(payload[i..], word);
            }
        }

        for (; i < payload.Length; i++)
        {
            payload[i] ^= key[i & 3];
        }
    }

    /// <summary>Writes one complete unmasked server frame (FIN set) into <paramref name="output"/>; nothing is flushed.</summary>
    public static void Write(IBufferWriter<byte> output, byte opcode, ReadOnlySpan<byte> payload)
    {
        var header = output.GetSpan(10);
        header[0] = (byte)(0x80 | opcode);
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

    /// <summary>Writes a close frame: the code, then as much of the reason as fits in a control frame (whole characters).</summary>
    public static void WriteClose(IBufferWriter<byte> output, int code, string reason)
    {
        Span<byte> payload = stackalloc byte[MaxControlPayload];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        var length = 2;
        foreach (var rune in reason.EnumerateRunes())
        {
            if (length + rune.Utf8SequenceLength > MaxControlPayload)
            {
                break;
            }

            length += rune.EncodeToUtf8(payload[length..]);
        }

        Write(output, Opcode.Close, payload[..length]);
    }

    /// <summary>
    /// Checks a close frame's payload from a peer: empty, or a valid code followed by a UTF-8 reason. Returns 0 when
    /// well-formed, else the close code to fail the connection with.
    /// </summary>
    public static int CheckClosePayload(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0)
        {
            return 0;
        }

        if (payload.Length == 1 || !WsCloseCodes.IsValidFromPeer(BinaryPrimitives.ReadUInt16BigEndian(payload)))
        {
            return WsCloseCodes.ProtocolError;
        }

        return System.Text.Unicode.Utf8.IsValid(payload[2..]) ? 0 : WsCloseCodes.InvalidPayload;
    }

    /// <summary>The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (RFC 6455 section 4.2.2).</summary>
    public static string AcceptKey(string key)
    {
        Span<byte> accept = stackalloc byte[AcceptKeyLength];
        return Encoding.ASCII.GetString(accept[..WriteAcceptKey(key, accept)]);
    }

    /// <summary>The length of every Sec-WebSocket-Accept value: the base64 of a 20-byte SHA-1.</summary>
    public const int AcceptKeyLength = 28;

    /// <summary>
    /// Writes the Sec-WebSocket-Accept value for <paramref name="key"/> (a valid key: 24 ASCII characters) into
    /// <paramref name="destination"/>, at least <see cref="AcceptKeyLength"/> bytes; returns the bytes written.
    /// </summary>
    public static int WriteAcceptKey(string key, Span<byte> destination)
    {
        ReadOnlySpan<byte> guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"u8;
        Span<byte> input = stackalloc byte[64];
        var keyLength = Encoding.ASCII.GetBytes(key, input);
        guid.CopyTo(input[keyLength..]);
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        SHA1.HashData(input[..(keyLength + guid.Length)], hash);
        Base64.EncodeToUtf8(hash, destination, out _, out var written);
        return written;
    }

    /// <summary>A Sec-WebSocket-Key is the base64 of 16 bytes.</summary>
    public static bool IsValidKey(string? key)
    {
        Span<byte> decoded = stackalloc byte[24];
        return key is { Length: 24 } && Convert.TryFromBase64String(key, decoded, out var n) && n == 16;
    }
}
