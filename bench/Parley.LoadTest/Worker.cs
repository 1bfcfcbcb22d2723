using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Parley.LoadTest.Wire;

namespace Parley.LoadTest;

/// <summary>
/// A worker process: holds up to a few thousand client connections (each process may open at most 20,000 files) and
/// runs the orchestrator's commands, read as JSON lines on stdin; answers are <c>@@</c> lines on stdout, progress
/// <c>~~</c> lines.
/// </summary>
public sealed class Worker
{
    private readonly Metrics _metrics = new();
    private readonly ConcurrentDictionary<int, LoadClient> _clients = new();
    private readonly int _index;

    private Worker(int index) => _index = index;

    public static async Task<int> RunAsync(int index)
    {
        ThreadPool.SetMinThreads(Environment.ProcessorCount * 4, Environment.ProcessorCount * 4);
        var worker = new Worker(index);
        using var heartbeat = new Timer(_ => worker.Heartbeat(), null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
        string? line;
        while ((line = await Console.In.ReadLineAsync()) is not null)
        {
            var command = JsonSerializer.Deserialize<WorkerCommand>(line, Json.Options)!;
            if (command.Cmd == "exit")
            {
                break;
            }

            WorkerReply reply;
            try
            {
                reply = command.Cmd switch
                {
                    "connect" => await worker.ConnectAsync(command),
                    "load" => await worker.LoadAsync(command),
                    "abort" => worker.AbortAll(),
                    _ => throw new InvalidOperationException("unknown command " + command.Cmd),
                };
            }
            catch (Exception e)
            {
                reply = new WorkerReply { Errors = 1, ErrorSamples = [e.ToString()] };
            }

            Console.Out.WriteLine("@@" + JsonSerializer.Serialize(reply, Json.Options));
            Console.Out.Flush();
        }

        worker.AbortAll();
        return 0;
    }

    private void Heartbeat()
    {
        foreach (var c in _clients.Values)
        {
            _ = c.HeartbeatAsync().ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        }
    }

    private LoadClient Create(string target, ClientSpec spec) => target switch
    {
        "parley" => new ParleyLoadClient(spec, _metrics),
        "socketio" => new SocketIoLoadClient(spec, _metrics),
        "signalr" => new SignalRLoadClient(spec, _metrics),
        _ => throw new ArgumentException("unknown target " + target),
    };

    private async Task<WorkerReply> ConnectAsync(WorkerCommand cmd)
    {
        var addresses = cmd.LocalAddresses.Select(IPAddress.Parse).ToArray();
        var latency = new Histogram();
        var connected = 0;
        var failed = 0;
        var withBacklog = 0;
        var errors = new ConcurrentQueue<string>();
        _metrics.StartPhase(long.MaxValue, long.MaxValue);

        async Task One(ClientSpec spec, long scheduled)
        {
            var client = Create(cmd.Target, spec);
            if (_clients.TryRemove(spec.Id, out var old))
            {
                old.Abort();
            }

            _clients[spec.Id] = client;
            try
            {
                var ok = await client.ConnectAsync(addresses[spec.Id % addresses.Length], CancellationToken.None);
                var micros = Metrics.TicksToMicros(Stopwatch.GetTimestamp() - scheduled);
                lock (latency)
                {
                    if (ok)
                    {
                        latency.Record(micros);
                        connected++;
                        if (client.MessagesSinceConnect >= cmd.ExpectBacklog)
                        {
                            withBacklog++;
                        }
                    }
                    else
                    {
                        failed++;
                    }
                }
            }
            catch (Exception e)
            {
                lock (latency)
                {
                    failed++;
                }

                if (errors.Count < 5)
                {
                    errors.Enqueue(e.GetType().Name + ": " + e.Message);
                }
            }
        }

        if (cmd.StartAt > 0)
        {
            // Storm: every client starts at its own scheduled time, whatever the others are doing (open loop).
            var n = cmd.Clients.Count;
            var tasks = new List<Task>(n);
            var window = cmd.WindowMs * Stopwatch.Frequency / 1000;
            for (var i = 0; i < n; i++)
            {
                var scheduled = cmd.StartAt + (n <= 1 ? 0 : window * i / n);
                var wait = scheduled - Stopwatch.GetTimestamp();
                if (wait > Stopwatch.Frequency / 1000)
                {
                    await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
                }

                var spec = cmd.Clients[i];
                tasks.Add(Task.Run(() => One(spec, scheduled)));
            }

            await Task.WhenAll(tasks);
        }
        else
        {
            using var gate = new SemaphoreSlim(Math.Max(1, cmd.Concurrency));
            var tasks = cmd.Clients.Select(async spec =>
            {
                await gate.WaitAsync();
                try
                {
                    await One(spec, Stopwatch.GetTimestamp());
                }
                finally
                {
                    gate.Release();
                }
            }).ToList();
            var progress = Task.Run(async () =>
            {
                while (!Task.WhenAll(tasks).IsCompleted)
                {
                    await Task.Delay(2000);
                    Console.Out.WriteLine($"~~{{\"worker\":{_index},\"connected\":{Volatile.Read(ref connected)},\"failed\":{Volatile.Read(ref failed)}}}");
                    Console.Out.Flush();
                }
            });
            await Task.WhenAll(tasks);
        }

        return new WorkerReply
        {
            Connected = connected,
            Failed = failed,
            WithBacklog = withBacklog,
            ConnectLatency = latency.ToData(),
            Errors = _metrics.Errors + errors.Count,
            ErrorSamples = [.. errors, .. _metrics.ErrorSamples()],
        };
    }

    private async Task<WorkerReply> LoadAsync(WorkerCommand cmd)
    {
        var f = Stopwatch.Frequency;
        var start = cmd.StartAt;
        var measureFrom = start + (cmd.WarmupMs * f / 1000);
        var measureTo = measureFrom + (cmd.DurationMs * f / 1000);
        _metrics.StartPhase(measureFrom, measureTo);
        _metrics.SkipOwn = cmd.SkipOwn;
        long offered = 0;
        var senders = cmd.Sends.Where(s => _clients.ContainsKey(s.Client)).ToList();
        if (cmd.Rate > 0 && senders.Count > 0)
        {
            // Open loop on a dedicated thread: message i is due at start + i/rate whatever happened to earlier ones.
            var interval = f / cmd.Rate;
            var thread = new Thread(() =>
            {
                long i = 0;
                while (true)
                {
                    var now = Stopwatch.GetTimestamp();
                    while (true)
                    {
                        var due = start + (long)(i * interval);
                        if (due > now || due >= measureTo)
                        {
                            break;
                        }

                        var s = senders[(int)(i % senders.Count)];
                        if (due >= measureFrom)
                        {
                            offered++;
                        }

                        var client = _clients[s.Client];
                        Interlocked.Increment(ref _metrics.Sent);
                        var sendTask = client.SendChatAsync(s.Dest, s.Direct, due, i, cmd.BodyBytes);
                        if (!sendTask.IsCompletedSuccessfully)
                        {
                            _ = sendTask.ContinueWith(t => { if (t.IsFaulted) Interlocked.Increment(ref _metrics.SendFailures); }, TaskScheduler.Default);
                        }

                        i++;
                    }

                    var next = start + (long)(i * interval);
                    if (next >= measureTo)
                    {
                        return;
                    }

                    // Asleep until the next message is due (at least 1 ms): at low rates the thread does not wake a
                    // thousand times a second for nothing. Latency counts from the due time, so waking late is measured.
                    Thread.Sleep(Math.Max(1, (int)((next - Stopwatch.GetTimestamp()) * 1000 / f)));
                }
            })
            { IsBackground = true, Name = "open-loop" };
            thread.Start();
            while (thread.IsAlive)
            {
                await Task.Delay(2000);
                Console.Out.WriteLine($"~~{{\"worker\":{_index},\"sent\":{Volatile.Read(ref _metrics.Sent)},\"acked\":{Volatile.Read(ref _metrics.Acked)},\"delivered\":{Volatile.Read(ref _metrics.Delivered)}}}");
                Console.Out.Flush();
            }
        }
        else
        {
            var wait = measureTo - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds((double)wait / f));
            }
        }

        await Task.Delay(cmd.GraceMs);
        return new WorkerReply
        {
            Offered = offered,
            Sent = Volatile.Read(ref _metrics.Sent),
            SendFailures = Volatile.Read(ref _metrics.SendFailures),
            Acked = Volatile.Read(ref _metrics.Acked),
            Delivered = Volatile.Read(ref _metrics.Delivered),
            Errors = Volatile.Read(ref _metrics.Errors),
            ErrorSamples = _metrics.ErrorSamples(),
            AckLatency = _metrics.AckHistogram().ToData(),
            DeliveryLatency = _metrics.DeliveryHistogram().ToData(),
        };
    }

    private WorkerReply AbortAll()
    {
        var n = 0;
        foreach (var c in _clients.Values)
        {
            c.Abort();
            n++;
        }

        _clients.Clear();
        return new WorkerReply { Connected = n };
    }
}
