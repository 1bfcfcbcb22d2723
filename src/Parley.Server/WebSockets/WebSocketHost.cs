using Parley.Server.Auth;

namespace Parley.Server.WebSockets;

/// <summary>What every WebSocket connection of a node shares: one object, so a connection holds one reference to it.</summary>
internal sealed class WebSocketHost(ParleyNode node, TokenService tokens, KeepAlive keepAlive, ILogger<WebSocketConnection> log)
{
    public ParleyNode Node { get; } = node;

    public TokenService Tokens { get; } = tokens;

    public KeepAlive KeepAlive { get; } = keepAlive;

    public ILogger Log { get; } = log;
}
