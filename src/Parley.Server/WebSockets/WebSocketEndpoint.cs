using Parley.Protocol;
using Parley.Server.Api;
using Parley.Server.Auth;

namespace Parley.Server.WebSockets;

/// <summary>The <c>/ws</c> endpoint: checks the upgrade (origin, draining) and runs one <see cref="WebSocketConnection"/>.</summary>
internal static class WebSocketEndpoint
{
    /// <summary>Ping interval, and how long a ping may go unanswered before the peer is dropped.</summary>
    public static TimeSpan Heartbeat(ParleyNode node) => TimeSpan.FromMilliseconds(Math.Max(100, node.Options.HeartbeatMs));

    public static void MapParleyWebSocket(this WebApplication app)
    {
        app.Map("/ws", HandleAsync);
    }

    private static async Task HandleAsync(HttpContext ctx, ParleyNode node, TokenService tokens, OriginPolicy origins, ILoggerFactory logs)
    {
        if (!ctx.WebSockets.IsWebSocketRequest)
        {
            await ApiErrors.WriteAsync(ctx, ErrorCodes.Invalid, "expected a WebSocket upgrade");
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

        var heartbeat = Heartbeat(node);
        using var socket = await ctx.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = heartbeat,
            KeepAliveTimeout = heartbeat,
        });
        var connection = new WebSocketConnection(socket, node, tokens, logs.CreateLogger<WebSocketConnection>(), batching: null, abortTransport: null);
        await connection.RunAsync(ctx.RequestAborted);
    }
}
