using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using System.Text;

namespace Parley.LoadTest.Wire;

/// <summary>What a worker is told about one client connection.</summary>
public sealed class ClientSpec
{
    public int Id { get; set; }

    public string Host { get; set; } = "127.0.0.1";

    public int Port { get; set; }

    public string UserId { get; set; } = "";

    public string Token { get; set; } = "";

    public List<string> Rooms { get; set; } = [];

    public Dictionary<string, long>? Resume { get; set; }
}

/// <summary>
/// One load-generating connection speaking one chat server's protocol: connect and handshake until "ready" (Parley:
/// <c>synced</c>; Socket.IO: the namespace connect; SignalR: the hub handshake and room joins), then send chat messages
/// and time every message received.
/// </summary>
public abstract class LoadClient
{
    /// <summary>Body text before the scheduled send time (Stopwatch ticks) that every target carries verbatim.</summary>
    public static readonly byte[] Marker = "~T"u8.ToArray();

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    private TaskCompletionSource<bool> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected LoadClient(ClientSpec spec, Metrics metrics)
    {
        Spec = spec;
        Metrics = metrics;
    }

    public ClientSpec Spec { get; }

    protected Metrics Metrics { get; }

    protected WebSocket? Socket { get; private set; }

    /// <summary>Messages (chat frames) received since the last connect.</summary>
    public int MessagesSinceConnect;

    public bool IsReady => _ready.Task.IsCompletedSuccessfully && _ready.Task.Result;

    protected abstract string PathAndQuery { get; }

    /// <summary>Connects and runs the protocol handshake; true once the client is ready.</summary>
    public async Task<bool> ConnectAsync(IPAddress local, CancellationToken ct)
    {
        _ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        MessagesSinceConnect = 0;
        var endpoint = new IPEndPoint(IPAddress.Parse(Spec.Host), Spec.Port);
        Socket = await WsConnect.ConnectAsync(local, endpoint, PathAndQuery, ct);
        _ = ReceiveLoopAsync(Socket);
        await OnOpenAsync();
        return await _ready.Task.WaitAsync(ReadyTimeout, ct);
    }

    /// <summary>Drops the TCP connection at once, as a client whose network went away.</summary>
    public void Abort()
    {
        var s = Socket;
        if (s is not null)
        {
            s.Abort();
            s.Dispose();
        }

        _ready.TrySetResult(false);
    }

    /// <summary>Sends one chat message (to a room / conversation, or to a user) carrying its scheduled send time.</summary>
    public abstract Task SendChatAsync(string dest, bool direct, long scheduled, long n, int bodyBytes);

    /// <summary>Sends the protocol's application-level heartbeat, where the client owes one (SignalR).</summary>
    public virtual Task HeartbeatAsync() => Task.CompletedTask;

    protected abstract Task OnOpenAsync();

    /// <summary>Handles one complete WebSocket text message.</summary>
    protected abstract void OnFrame(ReadOnlySpan<byte> frame);

    protected void SetReady(bool ok) => _ready.TrySetResult(ok);

    protected Task SendTextAsync(ReadOnlyMemory<byte> data)
    {
        var s = Socket;
        return s is null ? Task.CompletedTask : s.SendAsync(data, WebSocketMessageType.Text, true, CancellationToken.None).AsTask();
    }

    protected Task SendTextAsync(string text) => SendTextAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>A body of <paramref name="bodyBytes"/> ASCII characters that starts with the marker and the scheduled time.</summary>
    protected static string Body(long scheduled, int bodyBytes)
    {
        var head = "~T" + scheduled.ToString(System.Globalization.CultureInfo.InvariantCulture) + "~";
        return head.Length >= bodyBytes ? head : head + new string('x', bodyBytes - head.Length);
    }

    /// <summary>True when the frame is the copy of this client's own message.</summary>
    protected virtual bool IsOwn(ReadOnlySpan<byte> frame) => false;

    protected void CountMessage(ReadOnlySpan<byte> frame)
    {
        MessagesSinceConnect++;
        if (Metrics.SkipOwn && IsOwn(frame))
        {
            return;
        }

        if (Metrics.TryReadMarker(frame, Marker, out var scheduled))
        {
            Metrics.RecordDelivery(Spec.Id, scheduled, System.Diagnostics.Stopwatch.GetTimestamp());
        }
    }

    private async Task ReceiveLoopAsync(WebSocket socket)
    {
        // A pooled buffer for the connection's life: a reconnect storm's 10,000 new connections reuse the buffers the
        // dropped ones gave back instead of allocating (and faulting in) fresh memory while the servers are measured.
        var buffer = ArrayPool<byte>.Shared.Rent(2048);
        try
        {
            while (true)
            {
                var length = 0;
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }

                    var result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        _ready.TrySetResult(false);
                        return;
                    }

                    length += result.Count;
                    if (result.EndOfMessage)
                    {
                        break;
                    }
                }

                OnFrame(buffer.AsSpan(0, length));
            }
        }
        catch (Exception e) when (e is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            _ready.TrySetResult(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
