using System.Net.WebSockets;
using Parley.Protocol;

namespace Parley.Server.WebSockets;

/// <summary>The receive side: frames in, hello first, then client ops.</summary>
internal sealed partial class WebSocketConnection
{
    private async Task<Timer?> ReceiveLoopAsync(CancellationToken aborted)
    {
        Timer? expiry = null;
        while (true)
        {
            // A zero-byte read waits for the next frame without holding a buffer: idle connections cost no read memory.
            // No cancellation token here: a registration per idle connection costs memory, and an aborted connection
            // ends this read anyway.
            var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                Close((int)WebSocketCloseStatus.NormalClosure, "");
                return expiry;
            }

            var buffer = Pool.Rent(InitialReceiveBuffer);
            try
            {
                var length = 0;
                var end = peek.EndOfMessage && peek.Count == 0;
                // Never more than the cap plus one byte is read: one byte over is enough to know the frame is too big,
                // so a frame (or a fragmented message) that keeps growing is closed at 64 KiB, not at a buffer size.
                const int Limit = ProtocolRules.MaxFrameBytes + 1;
                while (!end)
                {
                    var room = Math.Min(buffer.Length, Limit);
                    if (length == room)
                    {
                        var bigger = Pool.Rent(Math.Min(buffer.Length * 2, Limit));
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        Pool.Return(buffer);
                        buffer = bigger;
                        room = Math.Min(buffer.Length, Limit);
                    }

                    var result = await _socket.ReceiveAsync(buffer.AsMemory(length, room - length), aborted);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        Close((int)WebSocketCloseStatus.NormalClosure, "");
                        return expiry;
                    }

                    length += result.Count;
                    end = result.EndOfMessage;
                    if (length > ProtocolRules.MaxFrameBytes)
                    {
                        Close(CloseCodes.MessageTooBig, "frame over 64 KiB");
                        return expiry;
                    }
                }

                if (length > ProtocolRules.MaxFrameBytes)
                {
                    Close(CloseCodes.MessageTooBig, "frame over 64 KiB");
                    return expiry;
                }

                if (peek.MessageType != WebSocketMessageType.Text)
                {
                    SendError(null, ErrorCodes.Invalid, "frames must be UTF-8 JSON text");
                    continue;
                }

                var parsed = ClientFrameParser.Parse(buffer.AsSpan(0, length));
                Pool.Return(buffer);
                buffer = null!;
                expiry = await HandleAsync(parsed, aborted) ?? expiry;
            }
            finally
            {
                if (buffer is not null)
                {
                    Pool.Return(buffer);
                }
            }
        }
    }

    private async Task<Timer?> HandleAsync(ClientFrameResult parsed, CancellationToken aborted)
    {
        if (!parsed.IsOk)
        {
            SendError(parsed.Ref, parsed.ErrorCode!, parsed.ErrorMessage!);
            if (_session is null && parsed.Ref == "hello" && parsed.ErrorCode == ErrorCodes.Unauthorized)
            {
                Close(CloseCodes.Unauthorized, "unauthorized");
            }

            return null;
        }

        var frame = parsed.Frame!;
        if (_session is null)
        {
            if (frame.Op != ClientOp.Hello)
            {
                SendError(frame.Op.ToString().ToLowerInvariant(), ErrorCodes.Unauthorized, "send hello first");
                return null;
            }

            return await HelloAsync(frame, aborted);
        }

        switch (frame.Op)
        {
            case ClientOp.Hello:
                SendError("hello", ErrorCodes.Invalid, "already authenticated");
                break;
            case ClientOp.Ping:
                Enqueue(ServerFrames.Pong(frame.PingT));
                break;
            case ClientOp.Send:
                await _inFlight.WaitAsync(aborted);
                _ = SendMessageAsync(_session, frame);
                break;
            case ClientOp.Delivered:
            case ClientOp.Read:
                await _inFlight.WaitAsync(aborted);
                _ = MarkAsync(_session, frame);
                break;
            case ClientOp.Typing:
                await _inFlight.WaitAsync(aborted);
                _ = TypingAsync(_session, frame);
                break;
        }

        return null;
    }

    private async Task<Timer?> HelloAsync(ClientFrame hello, CancellationToken aborted)
    {
        var identity = await _tokens.ValidateAsync(hello.Token);
        if (identity is null)
        {
            SendError("hello", ErrorCodes.Unauthorized, "bad or expired token");
            Close(CloseCodes.Unauthorized, "unauthorized");
            return null;
        }

        if (Volatile.Read(ref _closing) != 0)
        {
            return null;
        }

        var session = _node.Hub.CreateSession(identity.UserId, identity.Username, this);
        _session = session;
        DisposeHelloTimer();
        Enqueue(ServerFrames.Welcome(identity.UserId, identity.Username, _node.Options.NodeId, _node.Options.HeartbeatMs));
        var untilExpiry = _tokens.TimeLeft(identity);
        var expiry = new Timer(
            _ =>
            {
                SendError("hello", ErrorCodes.Unauthorized, "token expired");
                Close(CloseCodes.Unauthorized, "token expired");
            },
            null,
            untilExpiry < TimeSpan.Zero ? TimeSpan.Zero : untilExpiry > TimeSpan.FromDays(30) ? TimeSpan.FromDays(30) : untilExpiry,
            Timeout.InfiniteTimeSpan);
        // The attach (store reads, then the backlog) runs beside the receive loop, not in it: frames the client sends
        // after welcome (sends, pings, marks) are answered meanwhile, so a slow or hung store cannot hold them behind
        // the hello (fault campaign, cutoff-postgres). RunAsync waits for it before detaching.
        _attach = AttachAsync(session, hello.Resume, aborted);
        return expiry;
    }

    private async Task AttachAsync(Delivery.Session session, IReadOnlyDictionary<string, long>? resume, CancellationToken aborted)
    {
        try
        {
            await _node.Hub.AttachAsync(session, resume, aborted);
        }
        catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
        {
            SendError("hello", ErrorCodes.Unavailable, "the store is unavailable; reconnect later");
            Close((int)WebSocketCloseStatus.EndpointUnavailable, "store unavailable");
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _log.LogError(e, "hello failed");
            SendError("hello", ErrorCodes.Unavailable, "internal error");
            Close((int)WebSocketCloseStatus.InternalServerError, "hello failed");
        }
    }

    private async Task SendMessageAsync(Delivery.Session session, ClientFrame frame)
    {
        try
        {
            var (message, _) = await _node.Chat.SendAsync(new UserRef(session.UserId, session.Username), frame.Conv, frame.ClientMsgId, frame.Body);
            Enqueue(ServerFrames.Ack(message.Conv, message.ClientMsgId, message.Seq, message.Ts));
        }
        catch (ParleyException e)
        {
            SendError(frame.ClientMsgId, e.Code, e.Message);
            if (e.Code == ErrorCodes.RateLimited)
            {
                CountFlood();
            }
        }
        catch (Exception e)
        {
            _log.LogError(e, "send failed");
            SendError(frame.ClientMsgId, ErrorCodes.Unavailable, "internal error; nothing was stored");
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private async Task MarkAsync(Delivery.Session session, ClientFrame frame)
    {
        var op = frame.Op == ClientOp.Read ? "read" : "delivered";
        try
        {
            await _node.Chat.MarkAsync(session.UserId, frame.Conv, frame.Op == ClientOp.Read ? WatermarkKind.Read : WatermarkKind.Delivered, frame.Seq);
        }
        catch (ParleyException e)
        {
            SendError(op, e.Code, e.Message);
        }
        catch (Exception e)
        {
            _log.LogError(e, "{Op} failed", op);
            SendError(op, ErrorCodes.Unavailable, "internal error");
        }
        finally
        {
            _inFlight.Release();
        }
    }

    private async Task TypingAsync(Delivery.Session session, ClientFrame frame)
    {
        try
        {
            await _node.Chat.TypingAsync(session, frame.Conv);
        }
        catch (ParleyException e)
        {
            SendError("typing", e.Code, e.Message);
        }
        catch (Exception e)
        {
            _log.LogError(e, "typing failed");
            SendError("typing", ErrorCodes.Unavailable, "internal error");
        }
        finally
        {
            _inFlight.Release();
        }
    }
}
