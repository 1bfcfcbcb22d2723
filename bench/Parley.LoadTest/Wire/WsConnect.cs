using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;

namespace Parley.LoadTest.Wire;

/// <summary>
/// Opens a client WebSocket over a TCP socket bound to a chosen loopback source address (so a run can exceed the
/// 28k ephemeral ports of one source address): the HTTP/1.1 upgrade by hand, then the runtime's RFC 6455 framing.
/// </summary>
public static class WsConnect
{
    public static async Task<WebSocket> ConnectAsync(IPAddress local, IPEndPoint server, string pathAndQuery, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(local, 0));
            await socket.ConnectAsync(server, ct);
            var stream = new NetworkStream(socket, ownsSocket: true);
            // A nonce, as RFC 6455 asks; it needs no cryptographic strength here (one OpenSSL call fewer per connect).
            Span<byte> nonce = stackalloc byte[16];
            Random.Shared.NextBytes(nonce);
            var key = Convert.ToBase64String(nonce);
            var request = $"GET {pathAndQuery} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                          $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request), ct);

            byte[] leftover;
            var buffer = ArrayPool<byte>.Shared.Rent(1024);
            try
            {
                var length = 0;
                int headerEnd;
                while ((headerEnd = IndexOfHeaderEnd(buffer.AsSpan(0, length))) < 0)
                {
                    if (length == 1024)
                    {
                        throw new IOException("upgrade response headers too long");
                    }

                    var n = await stream.ReadAsync(buffer.AsMemory(length, 1024 - length), ct);
                    if (n == 0)
                    {
                        throw new IOException("connection closed during the upgrade");
                    }

                    length += n;
                }

                if (!buffer.AsSpan(0, headerEnd).StartsWith("HTTP/1.1 101"u8))
                {
                    throw new IOException("upgrade refused: " + Encoding.ASCII.GetString(buffer, 0, headerEnd).Split('\r')[0]);
                }

                leftover = buffer.AsSpan(headerEnd + 4, length - headerEnd - 4).ToArray();
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            Stream wsStream = leftover.Length == 0 ? stream : new PrefixedStream(leftover, stream);
            return WebSocket.CreateFromStream(wsStream, new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static int IndexOfHeaderEnd(ReadOnlySpan<byte> data) => data.IndexOf("\r\n\r\n"u8);

    /// <summary>A stream that first returns bytes already read past the upgrade response.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        private int _offset;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_offset < prefix.Length)
            {
                var n = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsSpan(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }

            return inner.Read(buffer);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset < prefix.Length)
            {
                return ValueTask.FromResult(Read(buffer.Span));
            }

            return inner.ReadAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            inner.WriteAsync(buffer, offset, count, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
