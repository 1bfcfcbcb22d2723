using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using Parley.Protocol;

namespace Parley.Client;

/// <summary>The connection loop: connect, hello with resume, read frames, reconnect with backoff.</summary>
public sealed partial class ParleyClient
{
    private async Task RunAsync(CancellationToken ct)
    {
        var delay = _options.MinReconnectDelay;
        while (!ct.IsCancellationRequested)
        {
            var reason = "closed";
            var synced = false;
            try
            {
                _token = await _options.TokenProvider(ct);
                if (!_cursorsInitialized)
                {
                    await InitializeCursorsAsync(ct);
                }

                using var socket = new ClientWebSocket();
                // WebSocket pings with a pong deadline: a half-open connection (peer frozen, traffic silently dropped)
                // is aborted and replaced instead of waiting forever for frames that cannot come.
                socket.Options.KeepAliveInterval = _options.KeepAliveInterval;
                socket.Options.KeepAliveTimeout = _options.KeepAliveTimeout;
                _socket = socket;
                using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    // A connect into a black hole must not hang: give up and retry with backoff.
                    connectTimeout.CancelAfter(_options.ConnectTimeout);
                    await socket.ConnectAsync(WsUri(), connectTimeout.Token);
                }

                await SendFrameAsync(new { op = "hello", token = _token, resume = new Dictionary<string, long>(_cursors) });
                synced = await ReadLoopAsync(socket, ct);
                reason = socket.CloseStatus is { } status ? $"closed {(int)status} {socket.CloseStatusDescription}" : "connection lost";
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException or ParleyClientException or JsonException or OperationCanceledException)
            {
                reason = e.Message;
                if (e is ParleyClientException { Code: "unauthorized" })
                {
                    _firstSync.TrySetException(e);
                }
            }
            finally
            {
                _connected = false;
                _socket = null;
            }

            Disconnected?.Invoke(reason);
            delay = synced ? _options.MinReconnectDelay : TimeSpan.FromTicks(Math.Min(_options.MaxReconnectDelay.Ticks, delay.Ticks * 2));
            // Full jitter, so a thousand clients dropped together do not come back together.
            var wait = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * delay.TotalMilliseconds);
            try
            {
                await Task.Delay(wait, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private Uri WsUri()
    {
        var b = new UriBuilder(_options.BaseUri) { Scheme = _options.BaseUri.Scheme == "https" ? "wss" : "ws" };
        b.Path = b.Path.TrimEnd('/') + "/ws";
        return b.Uri;
    }

    // Cursors start at the server's delivered watermark: what a cursor-less hello would use anyway, made explicit so
    // every later resume names every conversation.
    private async Task InitializeCursorsAsync(CancellationToken ct)
    {
        foreach (var conv in await GetConversationsAsync(ct))
        {
            _cursors.TryAdd(conv.Id, conv.DeliveredSeq);
        }

        _cursorsInitialized = true;
    }

    /// <summary>Reads frames until the socket closes; true when the connection got as far as synced.</summary>
    private async Task<bool> ReadLoopAsync(ClientWebSocket socket, CancellationToken ct)
    {
        var synced = false;
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (socket.State == WebSocketState.Open)
        {
            message.SetLength(0);
            ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(), ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    if (socket.CloseStatus == (WebSocketCloseStatus)CloseCodes.Unauthorized && !synced)
                    {
                        throw new ParleyClientException("unauthorized", socket.CloseStatusDescription ?? "token refused");
                    }

                    return synced;
                }

                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);

            using var doc = JsonDocument.Parse(message.GetBuffer().AsMemory(0, (int)message.Length));
            if (await DispatchAsync(doc.RootElement, ct))
            {
                synced = true;
            }
        }

        return synced;
    }

    /// <summary>Handles one server frame; true for <c>synced</c>.</summary>
    private async Task<bool> DispatchAsync(JsonElement f, CancellationToken ct)
    {
        switch (f.GetProperty("op").GetString())
        {
            case "welcome":
                UserId = f.GetProperty("userId").GetString();
                NodeId = f.GetProperty("node").GetString();
                _connected = true;
                Connections++;
                foreach (var pending in _pending.Values)
                {
                    _ = TransmitAsync(pending);
                }

                break;
            case "synced":
                _firstSync.TrySetResult();
                Synced?.Invoke();
                return true;
            case "msg":
                await OnMessageAsync(f.Deserialize(ProtocolJson.Default.MessageDto)!, ct);
                break;
            case "gap":
                await OnGapAsync(f.GetProperty("conv").GetString()!, f.GetProperty("fromSeq").GetInt64(), f.GetProperty("toSeq").GetInt64(), ct);
                break;
            case "ack":
                OnAck(new SendAck(f.GetProperty("conv").GetString()!, f.GetProperty("clientMsgId").GetString()!, f.GetProperty("seq").GetInt64(), f.GetProperty("ts").GetInt64()));
                break;
            case "error":
                OnError(f);
                break;
            case "receipt":
                ReceiptReceived?.Invoke(new ReceiptEvent(Str(f, "conv"), Str(f, "userId"), Str(f, "kind"), f.GetProperty("seq").GetInt64()));
                break;
            case "typing":
                TypingReceived?.Invoke(new TypingEvent(Str(f, "conv"), Str(f, "userId"), Str(f, "username")));
                break;
            case "presence":
                PresenceChanged?.Invoke(new PresenceEvent(Str(f, "userId"), Str(f, "status") == "online"));
                break;
            case "member":
                MemberChanged?.Invoke(new MemberEvent(Str(f, "conv"), Str(f, "userId"), Str(f, "username"), Str(f, "change") == "joined"));
                break;
            case "conversation":
                var conv = f.GetProperty("conversation").Deserialize(ProtocolJson.Default.ConversationDto)!;
                _cursors.TryAdd(conv.Id, conv.LastSeq);
                ConversationAdded?.Invoke(conv);
                break;
        }

        return false;
    }

    private static string Str(JsonElement f, string name) => f.GetProperty(name).GetString() ?? "";

    private void OnAck(SendAck ack)
    {
        if (_pending.TryRemove(PendingKey(ack.Conv, ack.ClientMsgId), out var pending))
        {
            pending.Done.TrySetResult(ack);
        }
    }

    private void OnError(JsonElement f)
    {
        var reference = f.TryGetProperty("ref", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        var code = Str(f, "code");
        var pending = reference is null ? null : _pending.Values.FirstOrDefault(p => p.ClientMsgId == reference);
        if (pending is null)
        {
            return;
        }

        var transient = code is ErrorCodes.Unavailable or ErrorCodes.RateLimited;
        SendRefused?.Invoke(new SendError(pending.Conv, pending.ClientMsgId, code, transient));
        if (transient)
        {
            // Retried by the housekeeping loop after a short pause.
            pending.LastSentTicks = Stopwatch.GetTimestamp() - (long)(_options.AckTimeout.TotalSeconds * Stopwatch.Frequency) + Stopwatch.Frequency;
            return;
        }

        if (_pending.TryRemove(PendingKey(pending.Conv, pending.ClientMsgId), out _))
        {
            pending.Done.TrySetException(new ParleyClientException(code, Str(f, "message")));
        }
    }

    private async Task TransmitAsync(PendingSend pending)
    {
        pending.LastSentTicks = Stopwatch.GetTimestamp();
        await SendFrameAsync(new { op = "send", conv = pending.Conv, clientMsgId = pending.ClientMsgId, body = pending.Body });
    }

    /// <summary>Sends a frame on the current connection; silently nothing when there is none (resends cover sends).</summary>
    private async Task SendFrameAsync(object frame)
    {
        var socket = _socket;
        if (socket is null || socket.State != WebSocketState.Open)
        {
            return;
        }

        var bytes = JsonSerializer.SerializeToUtf8Bytes(frame);
        await _sendLock.WaitAsync();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await socket.SendAsync(bytes, WebSocketMessageType.Text, true, timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The receive loop notices the broken connection and reconnects.
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Resends sends whose ack is overdue, and flushes delivered watermarks.</summary>
    private async Task HousekeepingAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.DeliveredDebounce);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (!_connected)
                {
                    continue;
                }

                foreach (var pending in _pending.Values)
                {
                    if (Stopwatch.GetElapsedTime(pending.LastSentTicks) > _options.AckTimeout)
                    {
                        await TransmitAsync(pending);
                    }
                }

                foreach (var conv in _deliveredDirty.Keys)
                {
                    if (_deliveredDirty.TryRemove(conv, out var seq))
                    {
                        await SendFrameAsync(new { op = "delivered", conv, seq });
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
