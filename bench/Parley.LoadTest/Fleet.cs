using System.Diagnostics;
using System.Text.Json;

namespace Parley.LoadTest;

/// <summary>The orchestrator's worker processes: this same program started with <c>worker N</c>.</summary>
public sealed class Fleet : IAsyncDisposable
{
    private readonly List<WorkerProcess> _workers = [];

    public int Count => _workers.Count;

    public IReadOnlyList<int> Pids => _workers.Select(w => w.Process.Id).ToList();

    public static Fleet Start(int count)
    {
        var fleet = new Fleet();
        var self = Environment.ProcessPath!;
        var dll = typeof(Fleet).Assembly.Location;
        for (var i = 0; i < count; i++)
        {
            var psi = new ProcessStartInfo(self)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                psi.ArgumentList.Add(dll);
            }

            psi.ArgumentList.Add("worker");
            psi.ArgumentList.Add(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var p = Process.Start(psi)!;
            fleet._workers.Add(new WorkerProcess(i, p));
        }

        return fleet;
    }

    /// <summary>Latest progress line of each worker (for live progress).</summary>
    public IEnumerable<JsonElement> Progress => _workers.Select(w => w.LastProgress).Where(p => p.ValueKind == JsonValueKind.Object);

    /// <summary>Sends each worker its command (null: none) and waits for every answer.</summary>
    public async Task<List<WorkerReply>> RunAsync(Func<int, WorkerCommand?> commandFor)
    {
        var pending = new List<Task<WorkerReply>>();
        foreach (var w in _workers)
        {
            var cmd = commandFor(w.Index);
            if (cmd is not null)
            {
                pending.Add(w.AskAsync(cmd));
            }
        }

        return [.. await Task.WhenAll(pending)];
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var w in _workers)
        {
            try
            {
                await w.Process.StandardInput.WriteLineAsync("{\"cmd\":\"exit\"}");
                await w.Process.StandardInput.FlushAsync();
            }
            catch (IOException)
            {
            }
        }

        foreach (var w in _workers)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await w.Process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                w.Process.Kill();
            }

            w.Process.Dispose();
        }
    }

    private sealed class WorkerProcess
    {
        private readonly SemaphoreSlim _gate = new(1, 1);

        public WorkerProcess(int index, Process process)
        {
            Index = index;
            Process = process;
        }

        public int Index { get; }

        public Process Process { get; }

        public JsonElement LastProgress { get; private set; }

        public async Task<WorkerReply> AskAsync(WorkerCommand command)
        {
            await _gate.WaitAsync();
            try
            {
                await Process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command, Json.Options));
                await Process.StandardInput.FlushAsync();
                while (true)
                {
                    var line = await Process.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException($"worker {Index} exited");
                    if (line.StartsWith("@@", StringComparison.Ordinal))
                    {
                        return JsonSerializer.Deserialize<WorkerReply>(line.AsSpan(2), Json.Options)!;
                    }

                    if (line.StartsWith("~~", StringComparison.Ordinal))
                    {
                        LastProgress = JsonDocument.Parse(line[2..]).RootElement.Clone();
                    }
                }
            }
            finally
            {
                _gate.Release();
            }
        }
    }
}
