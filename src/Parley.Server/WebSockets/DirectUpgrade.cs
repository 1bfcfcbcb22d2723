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

    /// <summary>The 101 answer to a request whose key is <paramref name="key"/>.</summary>
    public static byte[] SwitchingProtocols(string key) => Encoding.ASCII.GetBytes(
        $"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {WebSocketFrames.AcceptKey(key)}\r\n\r\n");

    /// <summary>A GET of /ws (any query) asking for a version-13 WebSocket upgrade, as RFC 6455 section 4.2.1 has it.</summary>
    internal static bool TryParseUpgrade(string head, out string key, out string? origin, out string host)
    {
        key = "";
        origin = null;
        host = "";
        var lines = head.Split("\r\n");
        var request = lines[0].Split(' ');
        if (request.Length != 3 || request[0] != "GET" || request[2] != "HTTP/1.1")
        {
            return false;
        }

        var path = request[1];
        var q = path.IndexOf('?', StringComparison.Ordinal);
        if ((q < 0 ? path : path[..q]) != "/ws")
        {
            return false;
        }

        bool upgrade = false, connectionUpgrade = false, version = false;
        for (var i = 1; i < lines.Length; i++)
        {
            var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                return false;
            }

            var name = lines[i][..colon].Trim();
            var value = lines[i][(colon + 1)..].Trim();
            if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
            {
                upgrade = value.Equals("websocket", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                connectionUpgrade = value.Split(',').Any(t => t.Trim().Equals("upgrade", StringComparison.OrdinalIgnoreCase));
            }
            else if (name.Equals("Sec-WebSocket-Version", StringComparison.OrdinalIgnoreCase))
            {
                version = value == "13";
            }
            else if (name.Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase))
            {
                key = value;
            }
            else if (name.Equals("Origin", StringComparison.OrdinalIgnoreCase))
            {
                origin = value;
            }
            else if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                host = value;
            }
            else if (name.Equals("Sec-WebSocket-Extensions", StringComparison.OrdinalIgnoreCase) || name.Equals("Sec-WebSocket-Protocol", StringComparison.OrdinalIgnoreCase))
            {
                // Nothing is negotiated (no compression, no subprotocol), as the HTTP path does: the headers are ignored.
            }
        }

        return upgrade && connectionUpgrade && version && host.Length > 0 && WebSocketFrames.IsValidKey(key);
    }
}
