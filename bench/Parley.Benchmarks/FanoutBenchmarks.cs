using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Delivery;
using Parley.Memory;
using Parley.Protocol;
using Parley.Store.Sqlite;

namespace Parley.Benchmarks;

/// <summary>
/// One message event through the hub and its conversation route to 1,000 local sessions whose sinks only count
/// (the transport is left out): the per-message cost of the delivery core, cursors included.
/// </summary>
[MemoryDiagnoser]
public class FanoutBenchmarks
{
    private const int Members = 1_000;
    private readonly CountingSink[] _sinks = new CountingSink[Members];
    private string _dir = "";
    private SqliteChatStore _store = null!;
    private Hub _hub = null!;
    private string _conv = "";
    private long _seq;
    private byte[] _frame = [];

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _dir = Directory.CreateTempSubdirectory("parley-bench-").FullName;
        _store = new SqliteChatStore(new SqliteStoreOptions { Path = Path.Combine(_dir, "bench.db") });
        await _store.InitializeAsync(CancellationToken.None);
        var options = new ParleyOptions { NodeId = "bench" };
        var bus = new InMemoryBus();
        _hub = new Hub(_store, bus, new InMemoryPresence(), options, NullLogger<Hub>.Instance);
        await bus.StartAsync(_hub, CancellationToken.None);
        _conv = "rbench";
        for (var i = 0; i < Members; i++)
        {
            await _store.CreateUserAsync(new User($"u{i}", $"user{i}", "x", 0), CancellationToken.None);
        }

        await _store.CreateRoomAsync(_conv, "u0", "bench", isPrivate: false, 0, CancellationToken.None);
        for (var i = 1; i < Members; i++)
        {
            await _store.AddMemberAsync(_conv, $"u{i}", 0, CancellationToken.None);
        }

        for (var i = 0; i < Members; i++)
        {
            _sinks[i] = new CountingSink();
            var session = _hub.CreateSession($"u{i}", $"user{i}", _sinks[i]);
            await _hub.AttachAsync(session, null, CancellationToken.None);
        }

        _frame = ServerFrames.Message(new StoredMessage(_conv, 1, "m1", "u0", "user0", new string('x', 100), 0, "c1", "bench"));
        await Task.Delay(500);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>One message to 1,000 sessions; completes when the last sink has it.</summary>
    [Benchmark(OperationsPerInvoke = 1)]
    public async Task DeliverOneMessageTo1000()
    {
        var seq = ++_seq;
        var last = _sinks[^1];
        var done = last.ExpectAsync(last.Count + 1);
        _hub.OnEvent(BusTopic.ForConversation(_conv), new BusEvent(BusEventKind.Message, _conv, seq, "u0", "bench", _frame));
        await done;
    }

    private sealed class CountingSink : IFrameSink
    {
        private TaskCompletionSource? _waiter;
        private long _target;

        public long Count;

        public Task ExpectAsync(long target)
        {
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _target = target;
            Volatile.Write(ref _waiter, tcs);
            if (Volatile.Read(ref Count) >= target)
            {
                tcs.TrySetResult();
            }

            return tcs.Task;
        }

        public bool TrySend(ReadOnlyMemory<byte> frame)
        {
            var n = Interlocked.Increment(ref Count);
            if (n >= _target)
            {
                Volatile.Read(ref _waiter)?.TrySetResult();
            }

            return true;
        }

        public void Close(int closeCode, string reason)
        {
        }
    }
}
