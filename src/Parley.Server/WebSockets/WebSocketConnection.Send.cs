using System.Buffers;
using System.Net.WebSockets;
using Parley.Protocol;

namespace Parley.Server.WebSockets;

/// <summary>
/// The send side: a bounded queue and a drain that runs only while there is something to send, so an idle connection
/// holds neither a waiting task nor a channel. Frames queued together (a delivery loop's burst, through TryQueue and
/// Flush) are written as one batch: one flush, one socket write (on the direct transport). After <see cref="Close"/> the drain sends what is queued, then the close frame.
/// </summary>
internal sealed partial class WebSocketConnection
{
    // One write holds at most this much before it is flushed (the pipe's own back-pressure applies per flush).
    private const int MaxBatchFrames = 64;
    private const int MaxBatchBytes = 64 * 1024;

    private readonly Lock _queueLock = new();
    private readonly int _maxQueued;
    private Queue<ReadOnlyMemory<byte>>? _queue;
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
        lock (_queueLock)
        {
            if (_draining || _queue is not { Count: > 0 })
            {
                return;
            }
        }

        StartSending();
    }

    /// <inheritdoc />
    public bool TryQueue(ReadOnlyMemory<byte> frame)
    {
        var overflow = false;
        lock (_queueLock)
        {
            if (Volatile.Read(ref _closing) != 0)
            {
                return false;
            }

            var queue = _queue ??= new Queue<ReadOnlyMemory<byte>>(4);
            if (queue.Count >= _maxQueued)
            {
                overflow = true;
            }
            else
            {
                queue.Enqueue(frame);
            }
        }

        if (overflow)
        {
            Close(CloseCodes.SlowConsumer, "outbound queue overflow: read faster, then resume");
            return false;
        }

        return true;
    }

    /// <summary>Starts the drain unless it runs.</summary>
    private void StartSending()
    {
        lock (_queueLock)
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
        var batch = ArrayPool<ReadOnlyMemory<byte>>.Shared.Rent(MaxBatchFrames);
        try
        {
            while (true)
            {
                var n = 0;
                lock (_queueLock)
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
                        bytes += frame.Length;
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

            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _socket.CloseOutputAsync((WebSocketCloseStatus)_closeCode, _closeReason, timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            _log.LogDebug(e, "send loop ended");
        }
        finally
        {
            ArrayPool<ReadOnlyMemory<byte>>.Shared.Return(batch, clearArray: true);
        }

        // Closing, or the socket failed: this drain never hands over again. The peer gets a few seconds to answer our
        // close frame; then the socket is torn down (Close schedules that).
        Close((int)WebSocketCloseStatus.NormalClosure, "");
        _closed!.TrySetResult();
    }

    /// <summary>Writes frames; on the direct transport they are framed into the pipe and leave in one flush.</summary>
    private async ValueTask SendBatchAsync(ReadOnlyMemory<byte>[] frames, int count)
    {
        if (_batching is not null && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            await _batching.WriteTextFramesAsync(frames, count, this);
            return;
        }

        _batching?.BeginBatch();
        for (var i = 0; i < count && !_dropQueued; i++)
        {
            await _socket.SendAsync(frames[i], WebSocketMessageType.Text, WebSocketMessageFlags.EndOfMessage, CancellationToken.None);
        }

        if (_batching is not null)
        {
            await _batching.EndBatchAsync();
        }
    }
}
