using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Parley.Server.WebSockets;

/// <summary>
/// Accepts WebSocket upgrades of <c>/ws</c> at the connection level, before Kestrel's HTTP/1.1 layer: the request head
/// is read from the transport, answered 101, and the WebSocket then runs directly on the transport pipes. An upgraded
/// connection so keeps none of the HTTP request's objects (context, header dictionaries, request/response streams), and
/// frames queued together leave in one write. Anything else — another path, a plain HTTP
/// request, an origin not allowed, a draining node, a head that does not parse — is handed to Kestrel untouched, whose
/// <see cref="WebSocketEndpoint"/> answers it as before.
/// </summary>
internal static class DirectUpgrade
{
    private const int MaxHeadBytes = 8 * 1024;
    private static readonly TimeSpan HeadTimeout = TimeSpan.FromSeconds(10);
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    public static ListenOptions UseParleyDirectWebSockets(this ListenOptions listen)
    {
        listen.Use(next => connection => AcceptAsync(connection, next, listen.ApplicationServices).Unwrap());
        return listen;
    }

    /// <summary>
    /// The upgrade handshake. Its result is the accepted WebSocket's run, or a completed task when Kestrel was handed the
    /// connection. The run is returned, not awaited, so that this method's state (the handshake's buffers, head and
    /// services) is gone once the handshake is: what stays alive for the connection's life is the run and the small
    /// task that unwraps it.
    /// </summary>
    private static async Task<Task> AcceptAsync(ConnectionContext connection, ConnectionDelegate next, IServiceProvider services)
    {
        var input = connection.Transport.Input;
        ReadResult read;
        using (var timeout = new CancellationTokenSource(HeadTimeout))
        {
            while (true)
            {
                try
                {
                    read = await input.ReadAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    await next(connection);
                    return Task.CompletedTask;
                }

                // Anything that does not start like "GET /ws" (TLS, another path, another method) is Kestrel's at
                // once: nothing waits for a head that will never come, and nothing has been consumed.
                if (!CouldBeUpgrade(read.Buffer))
                {
                    input.AdvanceTo(read.Buffer.Start);
                    await next(connection);
                    return Task.CompletedTask;
                }

                if (read.Buffer.PositionOf((byte)'\n') is not null && FindHeadEnd(read.Buffer) is not null)
                {
                    break;
                }

                input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                if (read.IsCompleted || read.Buffer.Length > MaxHeadBytes)
                {
                    await next(connection);
                    return Task.CompletedTask;
                }
            }
        }

        var buffer = read.Buffer;
        var end = FindHeadEnd(buffer)!.Value;
        var head = Encoding.Latin1.GetString(buffer.Slice(0, end).ToArray());
        var node = services.GetRequiredService<ParleyNode>();
        if (!TryParseUpgrade(head, out var key, out var origin, out var host) || node.IsDraining
            || !services.GetRequiredService<OriginPolicy>().Allows(origin, host))
        {
            // Not ours to answer: Kestrel reads the same bytes from the start.
            input.AdvanceTo(buffer.Start);
            await next(connection);
            return Task.CompletedTask;
        }

        input.AdvanceTo(buffer.GetPosition(HeadEnd.Length, end));
        var accept = WebSocketFrames.AcceptKey(key);
        connection.Transport.Output.Write(Encoding.ASCII.GetBytes(
            $"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"));
        await connection.Transport.Output.FlushAsync();

        // The WebSocket runs on the transport pipes themselves. A peer that does not take the close is torn down by its
        // close grace (WebSocketConnection.Close), and Kestrel shuts the transport down when this middleware returns.
        return WebSocketEndpoint.CreateConnection(connection.Transport, connection, services).RunAsync(connection.ConnectionClosed);
    }

    private static bool CouldBeUpgrade(ReadOnlySequence<byte> buffer)
    {
        ReadOnlySpan<byte> prefix = "GET /ws"u8;
        Span<byte> start = stackalloc byte[7];
        var n = (int)Math.Min(buffer.Length, prefix.Length);
        buffer.Slice(0, n).CopyTo(start);
        return start[..n].SequenceEqual(prefix[..n]);
    }

    private static SequencePosition? FindHeadEnd(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, HeadEnd, advancePastDelimiter: false) ? reader.Position : null;
    }

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
