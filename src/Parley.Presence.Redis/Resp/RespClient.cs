using System.Diagnostics;

namespace Parley.Presence.Redis.Resp;

/// <summary>
/// A small thread-safe Redis client: one pipelined connection shared by every caller, a timeout per command
/// (the command fails with <see cref="RedisTimeoutException"/>), and a lazy reconnect on the next command after
/// the connection dropped. While Redis is unreachable, commands fail at once with
/// <see cref="RedisConnectionException"/> until a short, growing backoff allows the next connect attempt.
/// </summary>
internal sealed class RespClient : IAsyncDisposable
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private RespConnection? _connection;
    private Task<RespConnection>? _connecting;
    private long _retryAfterTimestamp;
    private int _failedAttempts;
    private Exception? _lastConnectError;
    private bool _disposed;

    public RespClient(string endpoint, TimeSpan? commandTimeout = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        CommandTimeout = commandTimeout ?? DefaultCommandTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CommandTimeout, TimeSpan.Zero);
        Endpoint = endpoint;
    }

    /// <summary>How long a command waits for its reply unless the client is given another timeout.</summary>
    public static TimeSpan DefaultCommandTimeout { get; } = TimeSpan.FromSeconds(2);

    public string Endpoint { get; }

    public TimeSpan CommandTimeout { get; }

    /// <summary>
    /// Runs one command; a Redis error reply throws <see cref="RedisServerException"/>. <paramref name="timeout"/>
    /// replaces <see cref="CommandTimeout"/> for this call, e.g. with what is left of a caller's own budget.
    /// </summary>
    public async Task<RespValue> ExecuteAsync(IReadOnlyList<string> args, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        using var deadline = StartDeadline(ct, timeout);
        return await RunAsync(args, deadline.Token, ct);
    }

    /// <summary>Runs a script with EVALSHA, loading it first when Redis does not know it (new or restarted server).</summary>
    public async Task<RespValue> EvalAsync(
        RedisScript script, IReadOnlyList<string> keys, IReadOnlyList<string> args, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        using var deadline = StartDeadline(ct, timeout);
        var sha = script.Sha ?? await LoadAsync(script, deadline.Token, ct);
        try
        {
            return await RunAsync(EvalShaArgs(sha, keys, args), deadline.Token, ct);
        }
        catch (RedisServerException e) when (e.Prefix == "NOSCRIPT")
        {
            sha = await LoadAsync(script, deadline.Token, ct);
            return await RunAsync(EvalShaArgs(sha, keys, args), deadline.Token, ct);
        }
    }

    /// <summary>Loads a script with SCRIPT LOAD and remembers its SHA.</summary>
    public async Task<string> LoadAsync(RedisScript script, CancellationToken ct = default)
    {
        using var deadline = StartDeadline(ct, null);
        return await LoadAsync(script, deadline.Token, ct);
    }

    public ValueTask DisposeAsync()
    {
        RespConnection? connection;
        lock (_gate)
        {
            _disposed = true;
            connection = _connection;
            _connection = null;
        }

        connection?.Close(new ObjectDisposedException(nameof(RespClient)));
        return ValueTask.CompletedTask;
    }

    private async Task<string> LoadAsync(RedisScript script, CancellationToken deadline, CancellationToken ct)
    {
        var reply = await RunAsync(["SCRIPT", "LOAD", script.Source], deadline, ct);
        var sha = reply.AsString() ?? throw new RedisProtocolException($"SCRIPT LOAD of {script.Name} returned nil");
        script.Sha = sha;
        return sha;
    }

    private async Task<RespValue> RunAsync(IReadOnlyList<string> args, CancellationToken deadline, CancellationToken ct)
    {
        RespConnection? connection = null;
        RespValue reply;
        try
        {
            connection = await GetConnectionAsync(deadline);
            reply = await connection.SendAsync(args).WaitAsync(deadline);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Nothing came back in time: on loopback that means a stuck server or a half-open socket. Closing lets
            // the next command start afresh instead of queueing behind replies that may never come.
            var error = new RedisTimeoutException(
                $"redis at {Endpoint} did not answer {args[0]} in time (command timeout {CommandTimeout.TotalMilliseconds:0} ms)");
            connection?.Close(error);
            throw error;
        }

        return reply.Type == RespType.Error ? throw new RedisServerException(reply.AsString()!) : reply;
    }

    private async Task<RespConnection> GetConnectionAsync(CancellationToken ct)
    {
        Task<RespConnection> connecting;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connection is { IsOpen: true } open)
            {
                return open;
            }

            if (_connecting is null)
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _retryAfterTimestamp);
                if (_failedAttempts > 0 && wait > TimeSpan.Zero)
                {
                    throw new RedisConnectionException(
                        $"redis at {Endpoint} is unreachable ({_lastConnectError?.Message}); next attempt in {wait.TotalMilliseconds:0} ms",
                        _lastConnectError);
                }

                // Started outside the lock, so a synchronous failure cannot leave a faulted attempt in place.
                _connecting = Task.Run(ConnectAsync);
            }

            connecting = _connecting;
        }

        return await connecting.WaitAsync(ct);
    }

    private async Task<RespConnection> ConnectAsync()
    {
        // Bounded by the command timeout, not by any one caller, since every waiting caller shares this attempt.
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            var connection = await RespConnection.ConnectAsync(Endpoint, timeout.Token);
            lock (_gate)
            {
                _connecting = null;
                _failedAttempts = 0;
                if (_disposed)
                {
                    connection.Close(new ObjectDisposedException(nameof(RespClient)));
                }
                else
                {
                    _connection = connection;
                }
            }

            return connection;
        }
        catch (Exception e)
        {
            var reason = e is OperationCanceledException ? new TimeoutException("connect timed out") : e;
            lock (_gate)
            {
                _connecting = null;
                _failedAttempts++;
                _lastConnectError = reason;
                var backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, MinBackoff.Ticks << Math.Min(_failedAttempts - 1, 10)));
                _retryAfterTimestamp = Stopwatch.GetTimestamp() + (long)(backoff.TotalSeconds * Stopwatch.Frequency);
            }

            throw new RedisConnectionException($"cannot connect to redis at {Endpoint}: {reason.Message}", reason);
        }
    }

    private CancellationTokenSource StartDeadline(CancellationToken ct, TimeSpan? timeout)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var budget = timeout ?? CommandTimeout;
        if (budget <= TimeSpan.Zero)
        {
            deadline.Cancel();
        }
        else
        {
            deadline.CancelAfter(budget);
        }

        return deadline;
    }

    private static string[] EvalShaArgs(string sha, IReadOnlyList<string> keys, IReadOnlyList<string> args)
    {
        var all = new string[3 + keys.Count + args.Count];
        all[0] = "EVALSHA";
        all[1] = sha;
        all[2] = keys.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < keys.Count; i++)
        {
            all[3 + i] = keys[i];
        }

        for (var i = 0; i < args.Count; i++)
        {
            all[3 + keys.Count + i] = args[i];
        }

        return all;
    }
}
