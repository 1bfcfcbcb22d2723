using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Parley.Presence.Redis.Resp;

/// <summary>
/// One pipelined TCP connection to Redis. A write loop drains queued commands into one buffer and sends each
/// batch with a single write; a read loop parses replies and completes the oldest waiting command, since Redis
/// answers in order. Closing is idempotent and fails every command still queued or waiting.
/// </summary>
internal sealed class RespConnection
{
    // A batch is cut here so one huge burst does not delay the first reply behind megabytes of writes.
    private const int MaxBatchBytes = 256 * 1024;
    private const int ReadBufferSize = 16 * 1024;

    private readonly Socket _socket;
    private readonly string _endpoint;
    private readonly Channel<RespRequest> _outbound =
        Channel.CreateUnbounded<RespRequest>(new UnboundedChannelOptions { SingleReader = true });

    private readonly ConcurrentQueue<RespRequest> _awaitingReply = new();
    private readonly CancellationTokenSource _closing = new();
    private Exception? _closeReason;
    private int _closed;

    private RespConnection(Socket socket, string endpoint)
    {
        _socket = socket;
        _endpoint = endpoint;
        _ = Task.Run(WriteLoopAsync);
        _ = Task.Run(ReadLoopAsync);
    }

    /// <summary>False once the connection closed for any reason; a closed connection is never reused.</summary>
    public bool IsOpen => Volatile.Read(ref _closed) == 0;

    /// <summary>Opens a connection to <paramref name="endpoint"/> ("host:port").</summary>
    public static async Task<RespConnection> ConnectAsync(string endpoint, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(ParseEndpoint(endpoint), ct);
            return new RespConnection(socket, endpoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Queues a command; the task completes with its reply, or fails when the connection closes first.</summary>
    public Task<RespValue> SendAsync(IReadOnlyList<string> args)
    {
        var request = new RespRequest(args);
        if (!_outbound.Writer.TryWrite(request))
        {
            request.TrySetException(ClosedError());
        }

        return request.Task;
    }

    /// <summary>Closes the socket and fails every pending command with <paramref name="reason"/>. Idempotent.</summary>
    public void Close(Exception reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }

        _closeReason = reason;
        _outbound.Writer.TryComplete();
        _closing.Cancel();
        _socket.Dispose();
        FailPending();
    }

    private async Task WriteLoopAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(ReadBufferSize);
        var reader = _outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_closing.Token))
            {
                buffer.ResetWrittenCount();
                while (buffer.WrittenCount < MaxBatchBytes && reader.TryRead(out var request))
                {
                    RespWriter.WriteCommand(buffer, request.Args);

                    // Enqueued before the bytes leave, so a reply can never arrive ahead of its request.
                    _awaitingReply.Enqueue(request);
                }

                var pending = buffer.WrittenMemory;
                while (!pending.IsEmpty)
                {
                    var sent = await _socket.SendAsync(pending, SocketFlags.None, _closing.Token);
                    pending = pending[sent..];
                }

                if (buffer.Capacity > 4 * MaxBatchBytes)
                {
                    buffer = new ArrayBufferWriter<byte>(ReadBufferSize);
                }
            }
        }
        catch (Exception e)
        {
            Close(new RedisConnectionException($"writing to redis at {_endpoint} failed: {e.Message}", e));
        }

        // A batch taken from the queue just as the connection closed would otherwise wait for its timeout.
        if (!IsOpen)
        {
            FailPending();
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[ReadBufferSize];
        int start = 0, end = 0;
        try
        {
            while (true)
            {
                if (end == buffer.Length)
                {
                    MakeRoom(ref buffer, ref start, ref end);
                }

                var read = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, _closing.Token);
                if (read == 0)
                {
                    Close(new RedisConnectionException($"redis at {_endpoint} closed the connection"));
                    return;
                }

                end += read;
                while (RespParser.TryParse(buffer.AsSpan(start, end - start), out var reply, out var used))
                {
                    start += used;
                    if (!_awaitingReply.TryDequeue(out var request))
                    {
                        throw new RedisProtocolException("a reply arrived for no command");
                    }

                    request.TrySetResult(reply!);
                }

                if (start == end)
                {
                    start = end = 0;
                    if (buffer.Length > 64 * ReadBufferSize)
                    {
                        buffer = new byte[ReadBufferSize];
                    }
                }
            }
        }
        catch (Exception e)
        {
            Close(e as RedisException ?? new RedisConnectionException($"reading from redis at {_endpoint} failed: {e.Message}", e));
        }
    }

    private static void MakeRoom(ref byte[] buffer, ref int start, ref int end)
    {
        if (start > 0)
        {
            Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
            end -= start;
            start = 0;
            return;
        }

        Array.Resize(ref buffer, buffer.Length * 2);
    }

    private void FailPending()
    {
        var error = ClosedError();
        while (_outbound.Reader.TryRead(out var queued))
        {
            queued.TrySetException(error);
        }

        while (_awaitingReply.TryDequeue(out var waiting))
        {
            waiting.TrySetException(error);
        }
    }

    private RedisConnectionException ClosedError() =>
        _closeReason as RedisConnectionException
        ?? new RedisConnectionException($"the connection to redis at {_endpoint} is closed: {_closeReason?.Message}", _closeReason);

    private static EndPoint ParseEndpoint(string endpoint)
    {
        if (IPEndPoint.TryParse(endpoint, out var ip) && ip.Port != 0)
        {
            return ip;
        }

        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), out var port))
        {
            throw new ArgumentException($"redis endpoint '{endpoint}' is not host:port", nameof(endpoint));
        }

        return new DnsEndPoint(endpoint[..colon], port);
    }

    /// <summary>A queued command and the reply it waits for.</summary>
    private sealed class RespRequest(IReadOnlyList<string> args)
        : TaskCompletionSource<RespValue>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public IReadOnlyList<string> Args { get; } = args;
    }
}
