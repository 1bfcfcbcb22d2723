using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Parley.Testing;

/// <summary>
/// A raw protocol-level WebSocket client for tests: sends any text, records every frame received, and waits for
/// frames matching a predicate (with a timeout, always).
/// </summary>
public sealed class WsTestClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly ClientWebSocket _ws;
    private readonly Channel<JsonElement> _incoming = Channel.CreateUnbounded<JsonElement>();

    // "msg" frames read past while SendMessageAsync waited for its ack: the protocol does not order a sender's own
    // msg against its ack, so a later wait must still see them.
    private readonly Queue<JsonElement> _passed = new();
    private readonly List<JsonElement> _all = [];
    private readonly TaskCompletionSource<WebSocketCloseStatus?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reader;
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;

    private WsTestClient(ClientWebSocket ws)
    {
        _ws = ws;
        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Every frame received so far, in order.</summary>
    public IReadOnlyList<JsonElement> All
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>Completes with the close status when the server closes the socket (null when it was torn down).</summary>
    public Task<WebSocketCloseStatus?> Closed => _closed.Task;

    /// <summary>What ended the read loop when the socket was torn down rather than closed (null otherwise).</summary>
    public Exception? Failure { get; private set; }

    /// <summary>The underlying socket.</summary>
    public ClientWebSocket Socket => _ws;

    /// <summary>Opens a socket; <paramref name="origin"/> sets the Origin header.</summary>
    public static async Task<WsTestClient> ConnectAsync(Uri uri, string? origin = null)
    {
        var ws = new ClientWebSocket();
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        if (origin is not null)
        {
            ws.Options.SetRequestHeader("Origin", origin);
        }

        using var cts = new CancellationTokenSource(DefaultTimeout);
        await ws.ConnectAsync(uri, cts.Token);
        return new WsTestClient(ws);
    }

    /// <summary>Connects and says hello; returns the client after <c>synced</c> (throws if the hello is refused).</summary>
    public static async Task<WsTestClient> ConnectAndHelloAsync(Uri uri, string token, object? resume = null)
    {
        var client = await ConnectAsync(uri);
        await client.SendAsync(resume is null ? new { op = "hello", token } : new { op = "hello", token, resume });
        // A refused hello ends in a close; a per-conversation resume error (ref "hello", not_found) does not,
        // and may arrive before "synced", so only "synced" or the close decides.
        var synced = client.WaitForOpAsync("synced");
        var finished = await Task.WhenAny(synced, client.Closed);
        if (finished != synced)
        {
            var errors = string.Join(", ", client.All.Where(f => f.Op() == "error").Select(f => f.GetRawText()));
            var close = $"closed {client._ws.CloseStatus?.ToString() ?? "without a close frame"} '{client._ws.CloseStatusDescription}'"
                + (client.Failure is { } failure ? $", {failure.GetType().Name}: {failure.Message} {failure.InnerException?.Message}" : "");
            await client.DisposeAsync();
            throw new InvalidOperationException($"hello refused ({close}): {errors}");
        }

        await synced;
        return client;
    }

    /// <summary>Sends an object as one JSON text frame.</summary>
    public Task SendAsync(object frame) => SendRawAsync(JsonSerializer.Serialize(frame));

    /// <summary>Sends raw text as one frame.</summary>
    public async Task SendRawAsync(string text)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await _ws.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, cts.Token);
    }

    /// <summary>Sends raw bytes as one frame of the given type.</summary>
    public async Task SendBytesAsync(byte[] bytes, WebSocketMessageType type = WebSocketMessageType.Text, bool endOfMessage = true)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        await _ws.SendAsync(bytes, type, endOfMessage, cts.Token);
    }

    /// <summary>Waits for the next frame matching <paramref name="match"/>, skipping others.</summary>
    public Task<JsonElement> WaitForAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null) => WaitForAsync(match, keepPassedMessages: false, timeout);

    private async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> match, bool keepPassedMessages, TimeSpan? timeout)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            while (!keepPassedMessages && _passed.TryDequeue(out var earlier))
            {
                if (match(earlier))
                {
                    return earlier;
                }
            }

            while (true)
            {
                var frame = await _incoming.Reader.ReadAsync(cts.Token);
                if (match(frame))
                {
                    return frame;
                }

                if (keepPassedMessages && frame.Op() == "msg")
                {
                    _passed.Enqueue(frame);
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no matching frame within {timeout ?? DefaultTimeout}; received: {string.Join("\n", All.TakeLast(10))}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"socket closed ({_ws.CloseStatus}) before a matching frame; received: {string.Join("\n", All.TakeLast(10))}");
        }
    }

    /// <summary>Waits for the next frame with the given op.</summary>
    public Task<JsonElement> WaitForOpAsync(string op, TimeSpan? timeout = null) => WaitForAsync(f => f.Op() == op, timeout);

    /// <summary>Sends a message and waits for its ack or error; returns that frame.</summary>
    public async Task<JsonElement> SendMessageAsync(string conv, string body, string? clientMsgId = null)
    {
        var cid = clientMsgId ?? Guid.NewGuid().ToString("N");
        await SendAsync(new { op = "send", conv, clientMsgId = cid, body });
        return await WaitForAsync(f => (f.Op() == "ack" && f.Str("clientMsgId") == cid) || (f.Op() == "error" && f.Str("ref") == cid), keepPassedMessages: true, timeout: null);
    }

    /// <summary>True when no frame matching <paramref name="match"/> arrives within <paramref name="window"/>.</summary>
    public async Task<bool> NoneWithinAsync(Func<JsonElement, bool> match, TimeSpan window)
    {
        try
        {
            await WaitForAsync(match, window);
            return false;
        }
        catch (TimeoutException)
        {
            return true;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    /// <summary>Waits for the server to close the socket; returns the close code.</summary>
    public async Task<int?> WaitClosedAsync(TimeSpan? timeout = null)
    {
        var status = await _closed.Task.WaitAsync(timeout ?? DefaultTimeout);
        return status is null ? null : (int)status.Value;
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    result = await _ws.ReceiveAsync(buffer.AsMemory(length).ToArraySegment(), _stop.Token);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        _closed.TrySetResult(_ws.CloseStatus);
                        try
                        {
                            await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                        }
                        catch (WebSocketException)
                        {
                        }

                        return;
                    }

                    length += result.Count;
                }
                while (!result.EndOfMessage);

                var frame = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.Clone();
                lock (_all)
                {
                    _all.Add(frame);
                }

                _incoming.Writer.TryWrite(frame);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            Failure = e;
            _closed.TrySetResult(_ws.CloseStatus);
        }
        finally
        {
            _incoming.Writer.TryComplete();
        }
    }

    /// <summary>Aborts the socket without a close handshake (a crashed client).</summary>
    public void Abort() => _ws.Abort();

    /// <inheritdoc />
    /// <remarks>Idempotent: a test may close a client early and again in its cleanup.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_ws.State == WebSocketState.Open)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", cts.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        }

        await _stop.CancelAsync();
        _ws.Abort();
        await _reader.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _ws.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Shortcuts for reading frames in assertions.</summary>
public static class FrameExtensions
{
    /// <summary>The frame's op, or null.</summary>
    public static string? Op(this JsonElement f) => f.ValueKind == JsonValueKind.Object && f.TryGetProperty("op", out var op) ? op.GetString() : null;

    /// <summary>A string field, or null.</summary>
    public static string? Str(this JsonElement f, string name) =>
        f.ValueKind == JsonValueKind.Object && f.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A number field as long.</summary>
    public static long Long(this JsonElement f, string name) => f.GetProperty(name).GetInt64();

    /// <summary>Converts memory to an array segment (the socket API of ClientWebSocket wants one).</summary>
    internal static ArraySegment<byte> ToArraySegment(this Memory<byte> memory) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(memory, out var segment) ? segment : throw new InvalidOperationException();
}
