using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Parley.Delivery;
using Parley.Protocol;
using Parley.Server.Auth;

namespace Parley.Server.WebSockets;

/// <summary>
/// One client WebSocket, spoken directly on the connection's byte pipes (<see cref="WebSocketFrames"/>): a receive loop
/// (hello, then client ops) and a send loop, running only while frames are queued, that drains a bounded outbound queue.
/// Every way the connection ends goes through <see cref="Close"/>, which records one close code and reason, once: what
/// is queued goes out, then the close frame, and the peer has a few seconds to answer it before the transport is torn
/// down. An idle connection holds a pending pipe read and this object — no buffer, timer or WebSocket object.
/// </summary>
internal sealed partial class WebSocketConnection : IFrameSink, ILiveLinked<WebSocketConnection>
{
    private const int InitialReceiveBuffer = 4 * 1024;
    private const int MaxInFlightOps = 256;
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(3);

    // A slow consumer is closed because it does not read: its close frame is stuck behind the queue it did not take,
    // so waiting the full grace for it only keeps its buffers longer.
    private static readonly TimeSpan SlowConsumerCloseGrace = TimeSpan.FromMilliseconds(500);

    private readonly IDuplexPipe _transport;

    // The DirectSocket (direct path) or HttpContext (HTTP path) that can tear the transport down: kept as the object
    // itself, since a delegate bound to its Abort would cost every connection 64 bytes.
    private readonly object _owner;
    private readonly WebSocketHost _host;

    private Session? _session;
    private Task _attach = Task.CompletedTask;
    private int _closing;
    private int _closeCode = WsCloseCodes.Normal;
    private string _closeReason = "";
    private volatile bool _dropQueued;
    private TaskCompletionSource? _closed;

    // Flood detection: rejected sends within the current window.
    private long _floodWindowStart = Stopwatch.GetTimestamp();
    private int _floodRejects;

    private Timer? _helloTimer;

    // Created with the first op that needs it: a connection that never sends holds no semaphore.
    private SemaphoreSlim? _inFlight;

    // When a frame last arrived (Environment.TickCount64): the keep-alive drops a peer silent for two periods.
    private long _lastHeard = Environment.TickCount64;

    // When the keep-alive last pinged (only its loop reads or writes this).
    private long _lastPing;

    // When the frame (or fragmented message) now being received began to arrive, 0 when none is half received. A peer
    // that trickles a frame is heard from, so the keep-alive would never drop it, while its half frame holds a buffer.
    private long _incompleteSince;

    /// <param name="transport">The upgraded connection's bytes: WebSocket frames in and out.</param>
    /// <param name="owner">The <see cref="DirectSocket"/> or <see cref="HttpContext"/> whose Abort tears the transport
    /// down (a peer that does not take the close, a silent one).</param>
    /// <param name="host">What the node's connections share.</param>
    public WebSocketConnection(IDuplexPipe transport, object owner, WebSocketHost host)
    {
        if (owner is not (DirectSocket or HttpContext))
        {
            throw new ArgumentException("expected a DirectSocket or HttpContext", nameof(owner));
        }

        _transport = transport;
        _owner = owner;
        _host = host;
    }

    private ParleyNode Node => _host.Node;

    private TokenService Tokens => _host.Tokens;

    private ILogger Log => _host.Log;

    private int MaxQueued => Math.Max(16, Node.Options.OutboundQueueFrames);

    private void AbortTransport()
    {
        switch (_owner)
        {
            case DirectSocket socket:
                socket.Abort();
                break;
            case HttpContext http:
                http.Abort();
                break;
        }
    }

    /// <summary>Links of <see cref="KeepAlive"/>'s list of open connections.</summary>
    public WebSocketConnection? LivePrev { get; set; }

    /// <inheritdoc cref="LivePrev"/>
    public WebSocketConnection? LiveNext { get; set; }

    /// <summary>Runs the connection until it closes.</summary>
    public async Task RunAsync(CancellationToken aborted)
    {
        _helloTimer = new Timer(_ => { if (_session is null) Close(CloseCodes.Unauthorized, "no hello in time"); }, null, Node.Options.HelloTimeoutMs, Timeout.Infinite);
        _host.KeepAlive.Add(this);
        try
        {
            // The receive loop runs here, not in a method of its own: one pending state machine per idle connection.
            var input = _transport.Input;
            while (true)
            {
                // No cancellation token: a registration per idle connection costs memory, and an aborted connection completes
                // the pipe, which ends this read. While idle nothing is rented: the pipe holds no data, this loop no buffer.
                var read = await input.ReadAsync(CancellationToken.None);
                Volatile.Write(ref _lastHeard, Environment.TickCount64);
                var buffer = read.Buffer;
                var step = ReceiveStep.Frame;
                while (step == ReceiveStep.Frame)
                {
                    step = ReadFrame(ref buffer);
                }

                if (step == ReceiveStep.NeedMore && (!buffer.IsEmpty || _messageOpcode != 0))
                {
                    if (_incompleteSince == 0)
                    {
                        Volatile.Write(ref _incompleteSince, Environment.TickCount64);
                    }
                }
                else if (_incompleteSince != 0)
                {
                    Volatile.Write(ref _incompleteSince, 0);
                }

                // A message is handled before reading on, so what follows it is not "examined" yet: the next read returns at once.
                input.AdvanceTo(buffer.Start, step == ReceiveStep.NeedMore ? buffer.End : buffer.Start);
                switch (step)
                {
                    case ReceiveStep.End:
                        return;
                    case ReceiveStep.Message:
                        await HandleMessageAsync(aborted);
                        break;
                    case ReceiveStep.NeedMore when read.IsCompleted || read.IsCanceled:
                        // The peer went away without a close frame.
                        Close(CloseCodes.ServiceRestart, "connection lost");
                        return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            Close(CloseCodes.ServiceRestart, "connection lost");
        }
        finally
        {
            _host.KeepAlive.Remove(this);
            Close(WsCloseCodes.Normal, "");
            DisposeHelloTimer();
            if (_session is not null)
            {
                // Detaching while the attach still runs would leave it half done (a user entry, an online presence).
                await _attach;
                await Node.Hub.DetachAsync(_session);
            }

            await _closed!.Task;
            ReturnMessageBuffer();
            await _transport.Input.CompleteAsync();
            await _transport.Output.CompleteAsync();
        }
    }

    /// <summary>
    /// The keep-alive's visit: drops the connection when nothing has arrived for two periods; pings it when nothing has
    /// arrived for one and it was not pinged in the last period. Silence is counted from <paramref name="resumedAt"/> at
    /// the earliest: the node's own stall is not the peer's. Nor is its own slowness: "arrived" is what the receive loop
    /// last read, so before a drop the socket is asked for bytes that came but were not read yet (a loop held up by a
    /// slow store, or starved on a busy node); a peer whose answers wait there is not silent, and is kept. (Only a direct
    /// socket can be asked: a connection Kestrel serves, over TLS say, has its bytes read into Kestrel's buffers.)
    /// </summary>
    internal void Heartbeat(long now, long periodMs, long resumedAt)
    {
        var incompleteSince = Volatile.Read(ref _incompleteSince);
        if (incompleteSince != 0 && now - Math.Max(incompleteSince, resumedAt) > 2 * periodMs)
        {
            // Bytes keep coming but the frame never ends (a slow-loris holding a receive buffer): heard from, yet not talking.
            Log.LogDebug("keep-alive: dropping a connection whose frame has been arriving for {Ms} ms", now - incompleteSince);
            Close(WsCloseCodes.PolicyViolation, "frame not completed in time");
            AbortTransport();
            return;
        }

        var silent = now - Math.Max(Volatile.Read(ref _lastHeard), resumedAt);
        if (silent > 2 * periodMs)
        {
            if (_owner is DirectSocket { HasUnreadInput: true })
            {
                return;
            }

            // Its close frame would go unanswered, so the connection is torn down at once.
            Log.LogDebug("keep-alive: dropping a connection silent for {SilentMs} ms (heard {HeardMs} ms ago, node resumed {ResumedMs} ms ago)", silent, now - Volatile.Read(ref _lastHeard), now - resumedAt);
            Close(WsCloseCodes.GoingAway, "no answer to pings");
            AbortTransport();
            return;
        }

        var ping = silent >= periodMs && now - _lastPing >= periodMs;
        if (ping)
        {
            _lastPing = now;
        }

        if (ping && TryQueueControl(Opcode.Ping, ReadOnlyMemory<byte>.Empty))
        {
            StartSending();
        }
    }

    /// <inheritdoc />
    public void Close(int closeCode, string reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        _closeCode = closeCode;
        _closeReason = reason;
        // A slow consumer's queue is dropped: it catches up with resume. Otherwise what is queued (an error frame
        // explaining the close, say) goes out first.
        _dropQueued = closeCode == CloseCodes.SlowConsumer;
        _closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        StartSending();
        // A peer that does not take the close frame (a stuck reader keeps the send blocked) is torn down regardless.
        _ = Task.Delay(closeCode == CloseCodes.SlowConsumer ? SlowConsumerCloseGrace : CloseGrace).ContinueWith(
            static (_, state) => ((WebSocketConnection)state!).AbortTransport(),
            this,
            TaskScheduler.Default);
    }

    /// <summary>The hello timer is needed only until hello: an authenticated connection does not keep it.</summary>
    private void DisposeHelloTimer() => Interlocked.Exchange(ref _helloTimer, null)?.Dispose();

    private bool Enqueue(byte[] frame) => TrySend(frame);

    private void SendError(string? reference, string code, string message) => Enqueue(ServerFrames.Error(reference, code, message));

    /// <summary>Counts a rate-limited send; a client that keeps flooding is closed with 4029.</summary>
    private void CountFlood()
    {
        var window = TimeSpan.FromMilliseconds(Node.Options.FloodWindowMs);
        bool flooding;
        lock (QueueLock)
        {
            if (Stopwatch.GetElapsedTime(_floodWindowStart) > window)
            {
                _floodWindowStart = Stopwatch.GetTimestamp();
                _floodRejects = 0;
            }

            flooding = ++_floodRejects > Node.Options.FloodCloseAfterRejects;
        }

        if (flooding)
        {
            Close(CloseCodes.RateLimited, "rate limit exceeded repeatedly");
        }
    }

    private static ArrayPool<byte> Pool => ArrayPool<byte>.Shared;
}
