using System.Buffers;
using System.Text;

namespace Parley.Server.WebSockets;

/// <summary>
/// The opening handshake of a WebSocket taken before Kestrel (<see cref="DirectListener"/>): recognising a request head
/// that asks for <c>/ws</c>, checking it, and the 101 answer. Anything else — another path, a plain HTTP request, TLS,
/// a head that does not parse — is Kestrel's, whose <see cref="WebSocketEndpoint"/> answers it.
/// </summary>
internal static class DirectUpgrade
{
    /// <summary>A head longer than this is not looked at (Kestrel answers it).</summary>
    public const int MaxHeadBytes = 8 * 1024;

    /// <summary>What the first bytes of a connection are.</summary>
    public enum Head
    {
        /// <summary>Not a request for /ws (or too long a head): Kestrel's.</summary>
        NotOurs,

        /// <summary>Could be a request for /ws; its head has not all arrived.</summary>
        Incomplete,

        /// <summary>A whole head of a request starting "GET /ws".</summary>
        Complete,
    }

    /// <summary>Classifies the bytes a connection has sent so far; <paramref name="headLength"/> includes the blank line.</summary>
    public static Head Classify(ReadOnlySpan<byte> received, out int headLength)
    {
        headLength = 0;
        ReadOnlySpan<byte> prefix = "GET /ws"u8;
        var n = Math.Min(received.Length, prefix.Length);
        if (!received[..n].SequenceEqual(prefix[..n]))
        {
            return Head.NotOurs;
        }

        var end = received.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return received.Length >= MaxHeadBytes ? Head.NotOurs : Head.Incomplete;
        }

        headLength = end + 4;
        return Head.Complete;
    }

    /// <summary>Writes the 101 answer to a request whose key is <paramref name="key"/> (a valid one: see <see cref="TryParseUpgrade"/>).</summary>
    public static void WriteSwitchingProtocols(IBufferWriter<byte> output, string key)
    {
        ReadOnlySpan<byte> head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "u8;
        var span = output.GetSpan(head.Length + WebSocketFrames.AcceptKeyLength + 4);
        head.CopyTo(span);
        var written = head.Length + WebSocketFrames.WriteAcceptKey(key, span[head.Length..]);
        "\r\n\r\n"u8.CopyTo(span[written..]);
        output.Advance(written + 4);
    }

    /// <summary>
    /// A GET of /ws (any query) asking for a version-13 WebSocket upgrade, as RFC 6455 section 4.2.1 has it.
    /// <paramref name="head"/> is the request head without its closing blank line; it is read where it lies, and only
    /// the three values kept are copied out of it.
    /// </summary>
    internal static bool TryParseUpgrade(ReadOnlySpan<byte> head, out string key, out string? origin, out string host)
    {
        key = "";
        origin = null;
        host = "";
        var lineEnd = head.IndexOf("\r\n"u8);
        if (!IsUpgradeRequestLine(lineEnd < 0 ? head : head[..lineEnd]))
        {
            return false;
        }

        bool upgrade = false, connectionUpgrade = false, version = false;
        var rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
        while (lineEnd >= 0)
        {
            lineEnd = rest.IndexOf("\r\n"u8);
            var line = lineEnd < 0 ? rest : rest[..lineEnd];
            rest = lineEnd < 0 ? [] : rest[(lineEnd + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                return false;
            }

            var name = Trimmed(line[..colon]);
            var value = Trimmed(line[(colon + 1)..]);
            if (Ascii.EqualsIgnoreCase(name, "Upgrade"u8))
            {
                upgrade = Ascii.EqualsIgnoreCase(value, "websocket"u8);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                connectionUpgrade = HasToken(value, "upgrade"u8);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Version"u8))
            {
                version = value.SequenceEqual("13"u8);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Sec-WebSocket-Key"u8))
            {
                key = Encoding.Latin1.GetString(value);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Origin"u8))
            {
                origin = Encoding.Latin1.GetString(value);
            }
            else if (Ascii.EqualsIgnoreCase(name, "Host"u8))
            {
                host = Encoding.Latin1.GetString(value);
            }

            // Sec-WebSocket-Extensions and Sec-WebSocket-Protocol are ignored: nothing is negotiated (no compression,
            // no subprotocol), as on the HTTP path.
        }

        return upgrade && connectionUpgrade && version && host.Length > 0 && WebSocketFrames.IsValidKey(key);
    }

    /// <summary>"GET /ws HTTP/1.1", the path with any query: exactly three parts, one space apart.</summary>
    private static bool IsUpgradeRequestLine(ReadOnlySpan<byte> line)
    {
        ReadOnlySpan<byte> method = "GET "u8;
        ReadOnlySpan<byte> version = " HTTP/1.1"u8;
        if (!line.StartsWith(method) || !line.EndsWith(version) || line.Length < method.Length + version.Length)
        {
            return false;
        }

        var target = line[method.Length..^version.Length];
        var query = target.IndexOf((byte)'?');
        return target.IndexOf((byte)' ') < 0 && (query < 0 ? target : target[..query]).SequenceEqual("/ws"u8);
    }

    /// <summary>Whether a comma-separated header value lists <paramref name="token"/> (any case, spaces around it allowed).</summary>
    private static bool HasToken(ReadOnlySpan<byte> value, ReadOnlySpan<byte> token)
    {
        foreach (var range in value.Split((byte)','))
        {
            if (Ascii.EqualsIgnoreCase(Trimmed(value[range]), token))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary><paramref name="text"/> without the ASCII whitespace around it.</summary>
    private static ReadOnlySpan<byte> Trimmed(ReadOnlySpan<byte> text) => text[Ascii.Trim(text)];
}
