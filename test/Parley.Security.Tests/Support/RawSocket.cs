using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Security.Tests.Support;

/// <summary>A server frame read off a raw socket.</summary>
public readonly record struct RawFrame(bool Fin, int Opcode, byte[] Payload)
{
    /// <summary>The close code of a close frame, or null.</summary>
    public int? CloseCode => Opcode == 8 && Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : null;

    /// <summary>The payload as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>
/// A TCP connection that speaks HTTP/1.1 and RFC 6455 by hand, so a test can send what no well-behaved client would:
/// half a request, a frame that never ends, a header claiming 2^62 bytes. Cheap enough to open thousands.
/// </summary>
public sealed class RawSocket : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[4096];
    private int _start;
    private int _end;

    private RawSocket(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Connects to the node at <paramref name="baseUri"/>, from <paramref name="source"/> (any 127.0.0.x) when given.</summary>
    public static async Task<RawSocket> ConnectAsync(Uri baseUri, IPAddress? source = null, TimeSpan? timeout = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
            await socket.ConnectAsync(IPAddress.Parse(baseUri.Host), baseUri.Port, cts.Token);
            return new RawSocket(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The upgrade request for <c>/ws</c>, with an optional Origin.</summary>
    public static string UpgradeRequest(Uri baseUri, string? origin = null, string path = "/ws", string? host = null)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = new StringBuilder()
            .Append("GET ").Append(path).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(host ?? baseUri.Authority).Append("\r\n")
            .Append("Upgrade: websocket\r\nConnection: Upgrade\r\n")
            .Append("Sec-WebSocket-Key: ").Append(key).Append("\r\nSec-WebSocket-Version: 13\r\n");
        if (origin is not null)
        {
            request.Append("Origin: ").Append(origin).Append("\r\n");
        }

        return request.Append("\r\n").ToString();
    }

    /// <summary>Sends raw bytes.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        await _stream.WriteAsync(bytes, cts.Token);
    }

    /// <summary>Sends ASCII text.</summary>
    public Task SendAsync(string ascii) => SendAsync(Encoding.ASCII.GetBytes(ascii));

    /// <summary>Sends an upgrade request and reads the response head; returns the HTTP status code.</summary>
    public async Task<int> UpgradeAsync(Uri baseUri, string? origin = null, TimeSpan? timeout = null)
    {
        await SendAsync(UpgradeRequest(baseUri, origin));
        var head = await ReadHeadAsync(timeout ?? TimeSpan.FromSeconds(10));
        return StatusOf(head);
    }

    /// <summary>Connects, upgrades (anything but 101 throws) and sends a hello with <paramref name="token"/>.</summary>
    public static async Task<RawSocket> HelloAsync(Uri baseUri, string token)
    {
        var socket = await ConnectAsync(baseUri);
        var status = await socket.UpgradeAsync(baseUri);
        if (status != 101)
        {
            await socket.DisposeAsync();
            throw new IOException($"upgrade answered {status}, not 101");
        }

        await socket.SendFrameAsync(1, Encoding.UTF8.GetBytes($"{{\"op\":\"hello\",\"token\":\"{token}\"}}"));
        return socket;
    }

    /// <summary>Reads an HTTP response head (up to the blank line).</summary>
    public async Task<string> ReadHeadAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var head = new StringBuilder();
        while (true)
        {
            var b = await ReadByteAsync(cts.Token) ?? throw new IOException("connection closed before the response head ended: " + head);
            head.Append((char)b);
            if (head.Length >= 4 && head[^1] == '\n' && head[^2] == '\r' && head[^3] == '\n' && head[^4] == '\r')
            {
                return head.ToString();
            }
        }
    }

    /// <summary>The status code of a response head.</summary>
    public static int StatusOf(string head) => int.Parse(head.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sends one client frame: masked as RFC 6455 requires, unless <paramref name="masked"/> is false.</summary>
    public Task SendFrameAsync(int opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, ulong? declaredLength = null)
    {
        var frame = BuildFrame(opcode, payload, fin, masked, declaredLength);
        return SendAsync(frame);
    }

    /// <summary>
    /// Encodes a client frame; <paramref name="declaredLength"/> lies about the payload length when set, and
    /// <paramref name="maskKey"/> replaces the random mask (an all-zero key lets a test stream the payload in the clear).
    /// </summary>
    public static byte[] BuildFrame(int opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, ulong? declaredLength = null, byte[]? maskKey = null)
    {
        var length = declaredLength ?? (ulong)payload.Length;
        var header = new List<byte> { (byte)((fin ? 0x80 : 0) | (opcode & 0x0F)) };
        var maskBit = masked ? 0x80 : 0;
        if (length < 126)
        {
            header.Add((byte)(maskBit | (int)length));
        }
        else if (length <= ushort.MaxValue)
        {
            header.Add((byte)(maskBit | 126));
            header.Add((byte)(length >> 8));
            header.Add((byte)length);
        }
        else
        {
            header.Add((byte)(maskBit | 127));
            for (var shift = 56; shift >= 0; shift -= 8)
            {
                header.Add((byte)(length >> shift));
            }
        }

        var mask = masked ? maskKey ?? RandomNumberGenerator.GetBytes(4) : [];
        header.AddRange(mask);
        var frame = new byte[header.Count + payload.Length];
        header.CopyTo(frame);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[header.Count + i] = masked ? (byte)(payload[i] ^ mask[i % 4]) : payload[i];
        }

        return frame;
    }

    /// <summary>Reads one server frame; null when the connection ended first.</summary>
    public async Task<RawFrame?> ReadFrameAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var b0 = await ReadByteAsync(cts.Token);
        var b1 = await ReadByteAsync(cts.Token);
        if (b0 is null || b1 is null)
        {
            return null;
        }

        ulong length = (ulong)(b1.Value & 0x7F);
        if (length == 126)
        {
            length = ((ulong)(await ReadByteAsync(cts.Token) ?? 0) << 8) | (await ReadByteAsync(cts.Token) ?? 0);
        }
        else if (length == 127)
        {
            length = 0;
            for (var i = 0; i < 8; i++)
            {
                length = (length << 8) | (await ReadByteAsync(cts.Token) ?? 0);
            }
        }

        var payload = new byte[checked((int)length)];
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = await ReadByteAsync(cts.Token) ?? throw new IOException("connection closed inside a frame");
        }

        return new RawFrame((b0.Value & 0x80) != 0, b0.Value & 0x0F, payload);
    }

    /// <summary>Reads frames until a close frame; returns its code, or null when the connection ended without one.</summary>
    public async Task<int?> ReadCloseAsync(TimeSpan timeout, List<RawFrame>? seen = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException("no close frame in time");
            }

            RawFrame? frame;
            try
            {
                frame = await ReadFrameAsync(left);
            }
            catch (IOException)
            {
                return null;
            }

            if (frame is null)
            {
                return null;
            }

            seen?.Add(frame.Value);
            if (frame.Value.Opcode == 8)
            {
                return frame.Value.CloseCode ?? 1005;
            }
        }
    }

    /// <summary>True when the peer ends the connection (EOF or reset) within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForEndAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await ReadByteAsync(cts.Token) is not null)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private async ValueTask<byte?> ReadByteAsync(CancellationToken ct)
    {
        if (_start == _end)
        {
            int read;
            try
            {
                read = await _stream.ReadAsync(_buffer, ct);
            }
            catch (IOException e) when (e.InnerException is SocketException)
            {
                return null;
            }

            if (read == 0)
            {
                return null;
            }

            _start = 0;
            _end = read;
        }

        return _buffer[_start++];
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        return ValueTask.CompletedTask;
    }
}
