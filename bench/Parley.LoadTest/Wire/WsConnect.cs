using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Parley.LoadTest.Wire;

/// <summary>
/// Opens a client WebSocket over a TCP socket bound to a chosen loopback source address (so a run can exceed the
/// 28k ephemeral ports of one source address): the HTTP/1.1 upgrade by hand, then <see cref="WireSocket"/>'s framing.
/// </summary>
public static class WsConnect
{
    public static async Task<WireSocket> ConnectAsync(IPAddress local, IPEndPoint server, string pathAndQuery, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(local, 0));
            await socket.ConnectAsync(server, ct);
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            var request = $"GET {pathAndQuery} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                          $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, ct);

            var buffer = new byte[1024];
            var length = 0;
            int headerEnd;
            while ((headerEnd = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (length == buffer.Length)
                {
                    throw new IOException("upgrade response headers too long");
                }

                var n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new IOException("connection closed during the upgrade");
                }

                length += n;
            }

            var head = Encoding.ASCII.GetString(buffer, 0, headerEnd);
            if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                throw new IOException("upgrade refused: " + head.Split('\r')[0]);
            }

            return new WireSocket(socket, buffer.AsSpan(headerEnd + 4, length - headerEnd - 4));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
