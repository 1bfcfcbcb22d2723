using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;
using Parley.Protocol;
using Parley.Server.Api;

namespace Parley.Server.WebSockets;

/// <summary>
/// The <c>/ws</c> endpoint for upgrades <see cref="DirectListener"/> left to Kestrel's HTTP layer (TLS, HTTP/2, refusals):
/// checks the request (a WebSocket upgrade, origin, draining), answers the opening handshake itself (HTTP/1.1 101 with
/// Sec-WebSocket-Accept, or the 200 of an HTTP/2 extended CONNECT, RFC 8441) and runs one <see cref="WebSocketConnection"/>
/// on the upgraded stream — the same WebSocket code as the direct path.
/// </summary>
internal static class WebSocketEndpoint
{
    /// <summary>Ping interval; a peer silent for two of them is dropped.</summary>
    public static TimeSpan Heartbeat(ParleyNode node) => TimeSpan.FromMilliseconds(Math.Max(100, node.Options.HeartbeatMs));

    public static void MapParleyWebSocket(this WebApplication app)
    {
        app.Map("/ws", HandleAsync);
    }

    /// <summary>A connection for an accepted WebSocket on <paramref name="transport"/>, torn down through <paramref name="owner"/>.</summary>
    public static WebSocketConnection CreateConnection(IDuplexPipe transport, object owner, IServiceProvider services) =>
        new(transport, owner, services.GetRequiredService<WebSocketHost>());

    private static async Task HandleAsync(HttpContext ctx, ParleyNode node, OriginPolicy origins)
    {
        var upgrade = ctx.Features.Get<IHttpUpgradeFeature>();
        var connect = ctx.Features.Get<IHttpExtendedConnectFeature>();
        var headers = ctx.Request.Headers;
        var http2 = connect is { IsExtendedConnect: true } && string.Equals(connect.Protocol, "websocket", StringComparison.OrdinalIgnoreCase);
        var http1 = !http2 && upgrade is { IsUpgradableRequest: true } && HttpMethods.IsGet(ctx.Request.Method)
            && string.Equals(headers.Upgrade, "websocket", StringComparison.OrdinalIgnoreCase);
        if (!http1 && !http2)
        {
            await ApiErrors.WriteAsync(ctx, ErrorCodes.Invalid, "expected a WebSocket upgrade");
            return;
        }

        if (headers.SecWebSocketVersion != "13" || (http1 && !WebSocketFrames.IsValidKey(headers.SecWebSocketKey)))
        {
            ctx.Response.Headers.SecWebSocketVersion = "13";
            await ApiErrors.WriteAsync(ctx, ErrorCodes.Invalid, "expected WebSocket version 13 with a valid key");
            return;
        }

        if (node.IsDraining)
        {
            await ApiErrors.WriteAsync(ctx, ErrorCodes.Unavailable, "node shutting down; connect to another node");
            return;
        }

        // Cross-site WebSocket hijacking: browsers always send Origin; refuse origins not on the allow-list.
        if (!origins.Allows(ctx.Request))
        {
            await ApiErrors.WriteAsync(ctx, ErrorCodes.Forbidden, "origin not allowed");
            return;
        }

        Stream stream;
        if (http2)
        {
            stream = await connect!.AcceptAsync();
        }
        else
        {
            ctx.Response.Headers.Connection = "Upgrade";
            ctx.Response.Headers.Upgrade = "websocket";
            ctx.Response.Headers.SecWebSocketAccept = WebSocketFrames.AcceptKey(headers.SecWebSocketKey!);
            stream = await upgrade!.UpgradeAsync();
        }

        var transport = new StreamPipes(stream);
        var connection = CreateConnection(transport, ctx, ctx.RequestServices);
        await connection.RunAsync(ctx.RequestAborted);
    }

    /// <summary>An upgraded request's stream as the pipes a <see cref="WebSocketConnection"/> runs on.</summary>
    private sealed class StreamPipes(Stream stream) : IDuplexPipe
    {
        public PipeReader Input { get; } = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));

        public PipeWriter Output { get; } = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
    }
}
