using System.Buffers;
using System.Buffers.Binary;
using Parley.Protocol;

namespace Parley.Server.WebSockets;

/// <summary>The receive side: frames in, hello first, then client ops.</summary>
internal sealed partial class WebSocketConnection
{
    // The message being received: its opcode (0 between messages), and its unmasked payload so far in a pooled buffer
    // (rented when a message starts, returned when it has been handled).
    private byte _messageOpcode;
    private byte[]? _message;
    private int _messageLength;

    /// <summary>What reading frames from the input buffer came to.</summary>
    private enum ReceiveStep
    {
        /// <summary>The buffer ends inside a frame: read more.</summary>
        NeedMore,

        /// <summary>A frame was consumed; there may be another.</summary>
        Frame,

        /// <summary>A whole message is in <see cref="_message"/>.</summary>
        Message,

        /// <summary>The peer closed, or broke the protocol: receive nothing more.</summary>
        End,
    }

    /// <summary>
    /// Reads one frame from the start of <paramref name="buffer"/> and consumes it: control frames are answered here,
    /// data frames added to the message being received. A message is capped at 64 KiB as soon as a header says it would
    /// grow past the cap (1009), before its payload arrives; a frame that breaks RFC 6455 fails the connection (1002).
    /// </summary>
    private ReceiveStep ReadFrame(ref ReadOnlySequence<byte> buffer)
    {
        switch (WebSocketFrames.TryReadHeader(buffer, out var header, out var violation))
        {
            case WebSocketFrames.HeaderStatus.NeedMore:
                return ReceiveStep.NeedMore;
            case WebSocketFrames.HeaderStatus.Violation:
                return Fail(WsCloseCodes.ProtocolError, violation);
        }

        if (Opcode.IsControl(header.Opcode))
        {
            return ReadControlFrame(ref buffer, header);
        }

        if ((header.Opcode == Opcode.Continuation) != (_messageOpcode != 0))
        {
            return Fail(WsCloseCodes.ProtocolError, header.Opcode == Opcode.Continuation ? "continuation without a start" : "a new message inside a fragmented one");
        }

        // Compared without adding: a declared length near 2^63 after a first fragment would wrap the sum past the check.
        if (header.PayloadLength > ProtocolRules.MaxFrameBytes - _messageLength)
        {
            return Fail(CloseCodes.MessageTooBig, "frame over 64 KiB");
        }

        var length = (int)header.PayloadLength;
        if (buffer.Length < header.HeaderLength + length)
        {
            return ReceiveStep.NeedMore;
        }

        if (header.Opcode != Opcode.Continuation)
        {
            _messageOpcode = header.Opcode;
        }

        var needed = _messageLength + length;
        if (_message is null || _message.Length < needed)
        {
            var bigger = Pool.Rent(Math.Max(needed, _message is null ? InitialReceiveBuffer : _message.Length * 2));
            if (_message is not null)
            {
                _message.AsSpan(0, _messageLength).CopyTo(bigger);
                Pool.Return(_message);
            }

            _message = bigger;
        }

        var payload = _message.AsSpan(_messageLength, length);
        buffer.Slice(header.HeaderLength, length).CopyTo(payload);
        WebSocketFrames.Unmask(payload, header.Mask);
        _messageLength = needed;
        buffer = buffer.Slice(header.HeaderLength + length);
        return header.Fin ? ReceiveStep.Message : ReceiveStep.Frame;
    }

    /// <summary>Ping: answered with a pong carrying its payload. Pong: nothing (arriving is all it is for). Close: answered, then the end.</summary>
    private ReceiveStep ReadControlFrame(ref ReadOnlySequence<byte> buffer, FrameHeader header)
    {
        var length = (int)header.PayloadLength;
        if (buffer.Length < header.HeaderLength + length)
        {
            return ReceiveStep.NeedMore;
        }

        Span<byte> payload = stackalloc byte[WebSocketFrames.MaxControlPayload];
        payload = payload[..length];
        buffer.Slice(header.HeaderLength, length).CopyTo(payload);
        WebSocketFrames.Unmask(payload, header.Mask);
        buffer = buffer.Slice(header.HeaderLength + length);
        switch (header.Opcode)
        {
            case Opcode.Ping:
                if (TryQueueControl(Opcode.Pong, payload.ToArray()))
                {
                    StartSending();
                }

                return ReceiveStep.Frame;
            case Opcode.Pong:
                return ReceiveStep.Frame;
            default:
                var bad = WebSocketFrames.CheckClosePayload(payload);
                if (bad != 0)
                {
                    return Fail(bad, "malformed close frame");
                }

                // 1000 says the client is done (signed out, closed the app), not dropped: no presence grace.
                if (payload.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(payload) == WsCloseCodes.Normal)
                {
                    _session?.SignOff();
                }

                // The peer's close is answered with ours (sent after what is queued), unless ours went first.
                Close(WsCloseCodes.Normal, "");
                return ReceiveStep.End;
        }
    }

    /// <summary>Fails the connection: the close frame says why, and nothing more is read.</summary>
    private ReceiveStep Fail(int code, string reason)
    {
        Close(code, reason);
        return ReceiveStep.End;
    }

    /// <summary>Handles the message <see cref="ReadFrame"/> completed, then returns its buffer.</summary>
    private async Task HandleMessageAsync(CancellationToken aborted)
    {
        var opcode = _messageOpcode;
        var message = _message.AsSpan(0, _messageLength);
        _messageOpcode = 0;
        if (Volatile.Read(ref _closing) != 0)
        {
            // Closing: nothing the peer sends now is acted on.
            ReturnMessageBuffer();
            return;
        }

        if (opcode != Opcode.Text)
        {
            ReturnMessageBuffer();
            SendError(null, ErrorCodes.Invalid, "frames must be UTF-8 JSON text");
            return;
        }

        if (!System.Text.Unicode.Utf8.IsValid(message))
        {
            ReturnMessageBuffer();
            Close(WsCloseCodes.InvalidPayload, "text frame is not UTF-8");
            return;
        }

        var parsed = ClientFrameParser.Parse(message);
        ReturnMessageBuffer();
        await HandleAsync(parsed, aborted);
    }

    private void ReturnMessageBuffer()
    {
        _messageLength = 0;
        if (Interlocked.Exchange(ref _message, null) is { } buffer)
        {
            Pool.Return(buffer);
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
                // A send is answered by its clientMsgId, as everywhere, so a client can tell which of its sends failed.
                SendError(frame.Op == ClientOp.Send ? frame.ClientMsgId : frame.Op.ToString().ToLowerInvariant(), ErrorCodes.Unauthorized, "send hello first");
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
        var identity = await Tokens.ValidateAsync(hello.Token);
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

        if (Node.IsDraining)
        {
            // Upgraded before the drain began, hello only now: told what every session was told, and given nothing.
            Close(CloseCodes.ServiceRestart, "node shutting down");
            return;
        }

        var session = Node.Hub.CreateSession(identity.UserId, identity.Username, this);
        _session = session;
        DisposeHelloTimer();
        // The welcome waits to leave in one socket write with the backlog and synced (the hub flushes it then, or after a
        // second or two when the store is slow): one write and one wake-up fewer per reconnect. Anything written to the
        // connection meanwhile (a pong, an ack, an error) takes it along, in order.
        TryQueue(ServerFrames.Welcome(identity.UserId, identity.Username, Node.Options.NodeId, Node.Options.HeartbeatMs));
        // The hub's once-a-second sweep closes the session when its token expires: no timer per connection.
        session.ExpiresIn(Tokens.TimeLeft(identity));
        // The attach (store reads, then the backlog) runs beside the receive loop, not in it: frames the client sends
        // after welcome (sends, pings, marks) are answered meanwhile, so a slow or hung store cannot hold them behind
        // the hello (fault campaign, cutoff-postgres). RunAsync waits for it before detaching.
        _attach = AttachAsync(session, hello.Resume, aborted);
    }

    private async Task AttachAsync(Delivery.Session session, IReadOnlyDictionary<string, long>? resume, CancellationToken aborted)
    {
        try
        {
            await Node.Hub.AttachAsync(session, resume, aborted);
        }
        catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
        {
            SendError("hello", ErrorCodes.Unavailable, "the store is unavailable; reconnect later");
            Close(WsCloseCodes.EndpointUnavailable, "store unavailable");
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Log.LogError(e, "hello failed");
            SendError("hello", ErrorCodes.Unavailable, "internal error");
            Close(WsCloseCodes.InternalError, "hello failed");
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
            var (message, _) = await Node.Chat.SendAsync(new UserRef(session.UserId, session.Username), frame.Conv, frame.ClientMsgId, frame.Body);
            // Members clear a typist's "typing" when their message lands, so the next keystroke must be passed on again.
            session.ClearTyping(message.Conv);
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
            Log.LogError(e, "send failed");
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
            await Node.Chat.MarkAsync(session.UserId, frame.Conv, frame.Op == ClientOp.Read ? WatermarkKind.Read : WatermarkKind.Delivered, frame.Seq);
        }
        catch (ParleyException e)
        {
            SendError(op, e.Code, e.Message);
        }
        catch (Exception e)
        {
            Log.LogError(e, "{Op} failed", op);
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
            await Node.Chat.TypingAsync(session, frame.Conv);
        }
        catch (ParleyException e)
        {
            SendError("typing", e.Code, e.Message);
        }
        catch (Exception e)
        {
            Log.LogError(e, "typing failed");
            SendError("typing", ErrorCodes.Unavailable, "internal error");
        }
        finally
        {
            ExitOp();
        }
    }
}
