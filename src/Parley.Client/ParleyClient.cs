using System.Collections.Concurrent;
using System.Net.WebSockets;
using Parley.Protocol;

namespace Parley.Client;

/// <summary>
/// A Parley connection that keeps the protocol's promises on the client side: it reconnects with backoff and jitter
/// and resumes from its per-conversation cursors, resends every unacknowledged send with its stable clientMsgId until
/// acked, drops duplicates by (conv, seq), and fills gaps from history, so <see cref="MessageReceived"/> sees every
/// message of every conversation exactly once, in seq order.
/// </summary>
/// <remarks>Events are raised one at a time from the client's receive loop; handlers should not block.</remarks>
public sealed partial class ParleyClient : IAsyncDisposable
{
    private readonly ParleyClientOptions _options;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ConcurrentDictionary<string, long> _cursors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PendingSend> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _deliveredDirty = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedDictionary<long, MessageDto>> _early = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstSync = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ClientWebSocket? _socket;
    private Task? _loop;
    private Task? _housekeeping;
    private volatile bool _connected;
    private string? _token;
    private bool _cursorsInitialized;

    /// <summary>Creates a client; call <see cref="ConnectAsync"/> to go live.</summary>
    public ParleyClient(ParleyClientOptions options)
    {
        _options = options;
        _ownsHttp = options.Http is null;
        _http = options.Http ?? new HttpClient { BaseAddress = options.BaseUri, Timeout = TimeSpan.FromSeconds(30) };
        _http.BaseAddress ??= options.BaseUri;
        foreach (var (conv, seq) in options.InitialCursors ?? new Dictionary<string, long>())
        {
            _cursors[conv] = seq;
        }
    }

    /// <summary>A message, exactly once per (conv, seq), in seq order per conversation.</summary>
    public event Action<MessageDto>? MessageReceived;

    /// <summary>A member's delivered/read watermark rose.</summary>
    public event Action<ReceiptEvent>? ReceiptReceived;

    /// <summary>Another member is typing.</summary>
    public event Action<TypingEvent>? TypingReceived;

    /// <summary>A user's presence changed.</summary>
    public event Action<PresenceEvent>? PresenceChanged;

    /// <summary>A member joined or left.</summary>
    public event Action<MemberEvent>? MemberChanged;

    /// <summary>The user gained a conversation (created, joined, added, or a DM opened with them).</summary>
    public event Action<ConversationDto>? ConversationAdded;

    /// <summary>The server refused a send (see <see cref="SendError"/>); raised before the send is retried or failed.</summary>
    public event Action<SendError>? SendRefused;

    /// <summary>The backlog after a (re)connection was received.</summary>
    public event Action? Synced;

    /// <summary>The connection dropped; the client reconnects by itself.</summary>
    public event Action<string>? Disconnected;

    /// <summary>The id of the node the current connection is on.</summary>
    public string? NodeId { get; private set; }

    /// <summary>The authenticated user's id once connected.</summary>
    public string? UserId { get; private set; }

    /// <summary>True while a connection is open and past its hello.</summary>
    public bool IsConnected => _connected;

    /// <summary>Number of completed (re)connections.</summary>
    public int Connections { get; private set; }

    /// <summary>The highest seq of each conversation delivered to <see cref="MessageReceived"/>, contiguous from the start.</summary>
    public IReadOnlyDictionary<string, long> Cursors => _cursors;

    /// <summary>Sends not yet acknowledged.</summary>
    public int PendingSends => _pending.Count;

    /// <summary>Starts the connection loop and waits for the first <c>synced</c>.</summary>
    public async Task ConnectAsync(CancellationToken ct = default)
    {
        _loop ??= Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        _housekeeping ??= Task.Run(() => HousekeepingAsync(_stop.Token), CancellationToken.None);
        await _firstSync.Task.WaitAsync(ct);
    }

    /// <summary>
    /// Sends a message and completes when the server acknowledged it (it is then durably stored). The send is retried
    /// across reconnects with the same clientMsgId until acked, so it is stored exactly once. Throws
    /// <see cref="ParleyClientException"/> when the server refuses it for good (not a member, invalid, too large).
    /// </summary>
    public Task<SendAck> SendAsync(string conv, string body, string? clientMsgId = null, CancellationToken ct = default)
    {
        var cid = clientMsgId ?? Guid.NewGuid().ToString("N");
        var pending = _pending.GetOrAdd(PendingKey(conv, cid), _ => new PendingSend(conv, cid, body));
        if (_connected)
        {
            _ = TransmitAsync(pending);
        }

        return pending.Done.Task.WaitAsync(ct);
    }

    /// <summary>Marks a conversation read up to <paramref name="seq"/>.</summary>
    public Task MarkReadAsync(string conv, long seq) => SendFrameAsync(new { op = "read", conv, seq });

    /// <summary>Tells the other members the user is typing.</summary>
    public Task TypingAsync(string conv) => SendFrameAsync(new { op = "typing", conv });

    private static string PendingKey(string conv, string cid) => conv + "\n" + cid;

    private sealed class PendingSend(string conv, string clientMsgId, string body)
    {
        public string Conv { get; } = conv;

        public string ClientMsgId { get; } = clientMsgId;

        public string Body { get; } = body;

        public TaskCompletionSource<SendAck> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long LastSentTicks { get; set; }
    }

    /// <summary>Stops the client and closes its connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        var socket = _socket;
        if (socket is { State: WebSocketState.Open })
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        socket?.Abort();
        foreach (var task in new[] { _loop, _housekeeping })
        {
            if (task is not null)
            {
                await task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        foreach (var p in _pending.Values)
        {
            p.Done.TrySetCanceled();
        }

        _firstSync.TrySetCanceled();
        if (_ownsHttp)
        {
            _http.Dispose();
        }

        _stop.Dispose();
        _sendLock.Dispose();
    }
}
