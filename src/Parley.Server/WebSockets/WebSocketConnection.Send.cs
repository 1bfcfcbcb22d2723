using System.Buffers;
using Parley.Protocol;

namespace Parley.Server.WebSockets;

/// <summary>
/// The send side: a bounded queue and a drain that runs only while there is something to send, so an idle connection
/// holds neither a waiting task nor a channel. Frames queued together (a delivery loop's burst, through TryQueue and
/// Flush) are framed into the output pipe and flushed together: one socket write. Pings and pongs go through the same
/// queue, so the drain is the only writer. Frames left waiting for a flush start the drain themselves once a write's
/// worth (<see cref="MaxBatchFrames"/>, at most half the queue) has gathered. After <see cref="Close"/> the drain sends
/// what is queued, then the close frame.
/// </summary>
internal sealed partial class WebSocketConnection
{
    // One write holds at most this much before it is flushed (the pipe's own back-pressure applies per flush).
    private const int MaxBatchFrames = 64;
    private const int MaxBatchBytes = 64 * 1024;

    // The connection itself is the queue's monitor: a lock object of its own would cost every idle connection 40 bytes.
    // Nothing else locks on it (the class is internal; holders see it only as an IFrameSink).
    private object QueueLock => this;
    private Queue<OutFrame>? _queue;
    private bool _draining;

    /// <inheritdoc />
    public bool TrySend(ReadOnlyMemory<byte> frame)
    {
        if (!TryQueue(frame))
        {
            return false;
        }

        StartSending();
        return true;
    }

    /// <inheritdoc />
    public void Flush()
    {
        lock (QueueLock)
        {
            if (_draining || _queue is not { Count: > 0 })
            {
                return;
            }
        }

        StartSending();
    }

    /// <inheritdoc />
    public bool TryQueue(ReadOnlyMemory<byte> frame) => TryQueue(new OutFrame(Opcode.Text, frame));

    /// <summary>Queues a ping or pong (the caller starts the drain); false when closing or the queue is full.</summary>
    private bool TryQueueControl(byte opcode, ReadOnlyMemory<byte> payload) => TryQueue(new OutFrame(opcode, payload));

    private bool TryQueue(OutFrame frame)
    {
        var overflow = false;
        var full = false;
        lock (QueueLock)
        {
            if (Volatile.Read(ref _closing) != 0)
            {
                return false;
            }

            var queue = _queue ??= new Queue<OutFrame>(4);
            if (queue.Count >= MaxQueued)
            {
                overflow = true;
            }
            else
            {
                queue.Enqueue(frame);
                full = !_draining && queue.Count >= Math.Min(MaxBatchFrames, MaxQueued / 2);
            }
        }

        if (overflow)
        {
            Close(CloseCodes.SlowConsumer, "outbound queue overflow: read faster, then resume");
            return false;
        }

        if (full)
        {
            // A write's worth waits (or half the queue): it leaves now, so frames held for a flush (a hello's backlog from
            // many conversations) never fill the queue up to the slow-consumer bound by themselves.
            StartSending();
        }

        return true;
    }

    /// <summary>Starts the drain unless it runs.</summary>
    private void StartSending()
    {
        lock (QueueLock)
        {
            if (_draining)
            {
                return;
            }

            _draining = true;
        }

        // Started on the caller's thread (a conversation's delivery loop, say): the frames are framed into the transport
        // pipe right here and the transport's own I/O thread writes them to the socket, so a delivery costs no thread
        // pool hop of its own. Only a flush held back by a slow reader continues asynchronously.
        _ = DrainAsync();
    }

    private async Task DrainAsync()
    {
        var batch = ArrayPool<OutFrame>.Shared.Rent(MaxBatchFrames);
        try
        {
            while (true)
            {
                var n = 0;
                lock (QueueLock)
                {
                    var queue = _queue;
                    if (_dropQueued)
                    {
                        queue?.Clear();
                    }

                    var bytes = 0;
                    while (queue is not null && n < MaxBatchFrames && bytes < MaxBatchBytes && queue.TryDequeue(out var frame))
                    {
                        batch[n++] = frame;
                        bytes += frame.Payload.Length;
                    }

                    if (n == 0)
                    {
                        // Nothing left to send: an idle connection holds no queue (the next frame makes a small one).
                        _queue = null;

                        if (Volatile.Read(ref _closing) == 0)
                        {
                            _draining = false;
                            return;
                        }
                    }
                }

                if (n == 0)
                {
                    break;
                }

                await SendBatchAsync(batch, n);
                Array.Clear(batch, 0, n);
            }

            // Every queued frame is out: the close frame ends what this side sends.
            WebSocketFrames.WriteClose(_transport.Output, _closeCode, _closeReason);
            await FlushAsync();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            Log.LogDebug(e, "send loop ended");
        }
        finally
        {
            ArrayPool<OutFrame>.Shared.Return(batch, clearArray: true);
        }

        // Closing, or the socket failed: this drain never hands over again. The peer gets a few seconds to answer our
        // close frame; then the socket is torn down (Close schedules that).
        Close(WsCloseCodes.Normal, "");
        _closed!.TrySetResult();
    }

    /// <summary>Frames a batch into the output pipe (RFC 6455 section 5.2, unmasked as a server sends) and flushes it once.</summary>
    private ValueTask SendBatchAsync(OutFrame[] frames, int count)
    {
        var output = _transport.Output;
        for (var i = 0; i < count && !_dropQueued; i++)
        {
            WebSocketFrames.Write(output, frames[i].Opcode, frames[i].Payload.Span);
        }

        return FlushAsync();
    }

    private async ValueTask FlushAsync()
    {
        var result = await _transport.Output.FlushAsync();
        if (result.IsCanceled || result.IsCompleted)
        {
            throw new IOException("the connection is closed");
        }
    }

    /// <summary>A queued frame: text (a protocol frame) or a ping or pong.</summary>
    private readonly record struct OutFrame(byte Opcode, ReadOnlyMemory<byte> Payload);
}
