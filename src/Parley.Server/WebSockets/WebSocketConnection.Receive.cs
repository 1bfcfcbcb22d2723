using System.Net.WebSockets;
using Parley.Protocol;

namespace Parley.Server.WebSockets;

/// <summary>The receive side: frames in, hello first, then client ops.</summary>
internal sealed partial class WebSocketConnection
{
    private async Task ReceiveLoopAsync(CancellationToken aborted)
    {
        while (true)
        {
            // A zero-byte read waits for the next frame without holding a buffer: idle connections cost no read memory.
            // No cancellation token here: a registration per idle connection costs memory, and an aborted connection
            // ends this read anyway.
            var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
            if (peek.MessageType == WebSocketMessageType.Close)
            {
                Close((int)WebSocketCloseStatus.NormalClosure, "");
                return;
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
                        return;
                    }

                    length += result.Count;
                    end = result.EndOfMessage;
                    if (length > ProtocolRules.MaxFrameBytes)
                    {
                        Close(CloseCodes.MessageTooBig, "frame over 64 KiB");
                        return;
                    }
                }

                if (length > ProtocolRules.MaxFrameBytes)
                {
                    Close(CloseCodes.MessageTooBig, "frame over 64 KiB");
                    return;
                }

                if (peek.MessageType != WebSocketMessageType.Text)
                {
                    SendError(null, ErrorCodes.Invalid, "frames must be UTF-8 JSON text");
                    continue;
                }

                var parsed = ClientFrameParser.Parse(buffer.AsSpan(0, length));
                Pool.Return(buffer);
                buffer = null!;
                await HandleAsync(parsed, aborted);
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

    private async Task HandleAsync(ClientFrameResult parsed, CancellationToken aborted)
    {
        if (!parsed.IsOk)
        {
            SendError(parsed.Ref, parsed.ErrorCode!, parsed.ErrorMessage!);
            if (_session is null && parsed.Ref == "hello" && parsed.ErrorCode == ErrorCodes.Unauthorized)
            {
                Close(CloseCodes.Unauthorized, "unauthorized");
            }

            return;
        }

        var frame = parsed.Frame!;
        if (_session is null)
        {
            if (frame.Op != ClientOp.Hello)
            {
                SendError(frame.Op.ToString().ToLowerInvariant(), ErrorCodes.Unauthorized, "send hello first");
                return;
            }

            await HelloAsync(frame, aborted);
            return;
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
                await EnterOpAsync(aborted);
                _ = SendMessageAsync(_session, frame);
                break;
            case ClientOp.Delivered:
            case ClientOp.Read:
                await EnterOpAsync(aborted);
                _ = MarkAsync(_session, frame);
                break;
            case ClientOp.Typing:
                await EnterOpAsync(aborted);
                _ = TypingAsync(_session, frame);
                break;
        }
    }

    /// <summary>Waits for one of the connection's <see cref="MaxInFlightOps"/> op slots (the semaphore is made on first use).</summary>
    private Task EnterOpAsync(CancellationToken ct) => (_inFlight ??= new SemaphoreSlim(MaxInFlightOps)).WaitAsync(ct);

    private void ExitOp() => _inFlight!.Release();

    private async Task HelloAsync(ClientFrame hello, CancellationToken aborted)
    {
        var identity = await _tokens.ValidateAsync(hello.Token);
        if (identity is null)
        {
            SendError("hello", ErrorCodes.Unauthorized, "bad or expired token");
            Close(CloseCodes.Unauthorized, "unauthorized");
            return;
        }

        if (Volatile.Read(ref _closing) != 0)
        {
            return;
        }

        var session = _node.Hub.CreateSession(identity.UserId, identity.Username, this);
        _session = session;
        DisposeHelloTimer();
        Enqueue(ServerFrames.Welcome(identity.UserId, identity.Username, _node.Options.NodeId, _node.Options.HeartbeatMs));
        // The hub's once-a-second sweep closes the session when its token expires: no timer per connection.
        session.ExpiresIn(_tokens.TimeLeft(identity));
        // The attach (store reads, then the backlog) runs beside the receive loop, not in it: frames the client sends
        // after welcome (sends, pings, marks) are answered meanwhile, so a slow or hung store cannot hold them behind
        // the hello (fault campaign, cutoff-postgres). RunAsync waits for it before detaching.
        _attach = AttachAsync(session, hello.Resume, aborted);
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
        finally
        {
            // Done: an idle connection need not keep the finished attach's state machine.
            _attach = Task.CompletedTask;
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
            SendError(frame.ClientMsgId, ErrorCodes.Unavailable, "internal error; nothing was acknowledged: retry with the same clientMsgId");
        }
        finally
        {
            ExitOp();
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
            ExitOp();
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
            ExitOp();
        }
    }
}
