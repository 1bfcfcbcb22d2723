using System.Diagnostics;
using System.Runtime;
using Parley.Diagnostics;

namespace Parley.Server.Api;

/// <summary>
/// Mapped only when <c>Parley:DiagnosticsEndpoint</c> is true (benchmarks, investigations); off by default: a forced
/// collection pauses the node, and the figures describe the deployment.
/// <c>GET /debug/memory</c> forces a full, compacting collection (the second in the aggressive mode, which also gives
/// the collector's free committed memory back to the OS, so the resident set counts what is held) and answers the
/// managed heap size, the process's resident set and the live connection count; with <c>?collect=false</c> it answers
/// at once, without a collection (the heap figure then counts garbage too: for the connection count). <c>GET /debug/latency</c> answers
/// where this node's acknowledged sends spent their time since start (or the last <c>?reset=true</c>, which starts the
/// counts afresh after answering).
/// </summary>
internal static class DiagnosticsApi
{
    public static void MapParleyDiagnostics(this WebApplication app)
    {
        app.MapGet("/debug/memory", (ParleyNode node, bool? collect) =>
        {
            if (collect != false)
            {
                GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }

            var heap = GC.GetTotalMemory(forceFullCollection: false);
            using var self = Process.GetCurrentProcess();
            return Results.Json(new MemoryReport(heap, GC.GetGCMemoryInfo().TotalCommittedBytes, self.WorkingSet64, node.Hub.SessionCount), DiagnosticsJson.Default.MemoryReport);
        });

        app.MapGet("/debug/latency", (ParleyNode node, bool? reset) =>
        {
            var r = reset == true;
            var commits = node.Messages.Stats;
            return Results.Json(
                new LatencyReport(node.Chat.SendTimes.Read(r), commits.Wait.Read(r), commits.Commit.Read(r), commits.BatchSize.Read(r)),
                DiagnosticsJson.Default.LatencyReport);
        });
    }
}

/// <summary>The answer of <c>/debug/memory</c>: bytes of live managed objects, committed GC memory, resident set.</summary>
internal sealed record MemoryReport(long GcHeapBytes, long GcCommittedBytes, long RssBytes, int Connections);

/// <summary>
/// The answer of <c>/debug/latency</c>: acknowledged sends from the call to the commit's answer (<paramref name="Send"/>),
/// and of it the wait for a commit (<paramref name="CommitWait"/>) and the store's commit (<paramref name="Commit"/>, per
/// batch), with the batch sizes (<paramref name="BatchSize"/>, in messages, not microseconds). Durations in microseconds.
/// </summary>
internal sealed record LatencyReport(LatencySummary Send, LatencySummary CommitWait, LatencySummary Commit, LatencySummary BatchSize);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(MemoryReport))]
[System.Text.Json.Serialization.JsonSerializable(typeof(LatencyReport))]
internal sealed partial class DiagnosticsJson : System.Text.Json.Serialization.JsonSerializerContext;
