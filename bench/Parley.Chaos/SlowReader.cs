using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Chaos;

/// <summary>
/// A WebSocket client on a raw socket with a tiny receive buffer that sends its hello and then never reads: the
/// slow consumer the server must drop (4008) instead of queueing for it without bound.
/// </summary>
public sealed class SlowReader : IDisposable
{
    private readonly Socket _socket;

    private SlowReader(Socket socket) => _socket = socket;

    public static async Task<SlowReader> ConnectAsync(int port, string token)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await socket.ReceiveAsync(one) == 0)
            {
                throw new IOException("the server closed during the upgrade");
            }

            head.Append((char)one[0]);
        }

        if (!head.ToString().StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
        {
            throw new IOException("upgrade refused: " + head);
        }

        await socket.SendAsync(Frame(Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{token}\"}}")));
        return new SlowReader(socket);
    }

    /// <summary>
    /// True while the kernel still holds this connection as established (state 01 in <c>/proc/net/tcp</c>): false
    /// once the server closed (FIN: close-wait) or reset it, without reading the data queued in front of that.
    /// </summary>
    public bool IsEstablished
    {
        get
        {
            var local = (IPEndPoint)_socket.LocalEndPoint!;
            var key = $"0100007F:{local.Port:X4}";
            foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
            {
                var cells = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (cells.Length > 3 && cells[1] == key)
                {
                    return cells[3] == "01";
                }
            }

            return false;
        }
    }

    /// <summary>Reads what was left (briefly) and returns the close code of the server's close frame, if one arrived.</summary>
    public async Task<int?> CloseCodeAsync(TimeSpan timeout)
    {
        using var data = new MemoryStream();
        var buffer = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    break;
                }

                data.Write(buffer, 0, n);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
        }

        return LastCloseCode(data.ToArray());
    }

    public void Dispose() => _socket.Dispose();

    // Walks the server's (unmasked) frames and returns the code of a close frame (opcode 8).
    private static int? LastCloseCode(byte[] bytes)
    {
        var i = 0;
        int? code = null;
        while (i + 2 <= bytes.Length)
        {
            var opcode = bytes[i] & 0x0F;
            long length = bytes[i + 1] & 0x7F;
            var at = i + 2;
            if (length == 126)
            {
                if (at + 2 > bytes.Length)
                {
                    break;
                }

                length = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(at));
                at += 2;
            }
            else if (length == 127)
            {
                if (at + 8 > bytes.Length)
                {
                    break;
                }

                length = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(at));
                at += 8;
            }

            if (at + length > bytes.Length)
            {
                break;
            }

            if (opcode == 8 && length >= 2)
            {
                code = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(at));
            }

            i = at + (int)length;
        }

        return code;
    }

    // A client frame: FIN + text, masked as RFC 6455 requires.
    private static byte[] Frame(byte[] payload)
    {
        var header = new List<byte> { 0x81 };
        if (payload.Length < 126)
        {
            header.Add((byte)(0x80 | payload.Length));
        }
        else
        {
            header.Add(0x80 | 126);
            header.Add((byte)(payload.Length >> 8));
            header.Add((byte)payload.Length);
        }

        var mask = RandomNumberGenerator.GetBytes(4);
        header.AddRange(mask);
        return [.. header, .. payload.Select((b, k) => (byte)(b ^ mask[k % 4]))];
    }
}
