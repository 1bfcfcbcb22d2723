using System.Diagnostics;
using System.Runtime;

namespace Parley.Server.Api;

/// <summary>
/// <c>GET /debug/memory</c>, mapped only when <c>Parley:DiagnosticsEndpoint</c> is true (benchmarks): forces a full,
/// compacting collection and answers the managed heap size, the process's resident set and the live connection count.
/// Off by default: a forced collection pauses the node and the figures describe the deployment.
/// </summary>
internal static class DiagnosticsApi
{
    public static void MapParleyDiagnostics(this WebApplication app)
    {
        app.MapGet("/debug/memory", (ParleyNode node) =>
        {
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            var heap = GC.GetTotalMemory(forceFullCollection: false);
            using var self = Process.GetCurrentProcess();
            return Results.Json(new MemoryReport(heap, GC.GetGCMemoryInfo().TotalCommittedBytes, self.WorkingSet64, node.Hub.SessionCount), DiagnosticsJson.Default.MemoryReport);
        });
    }
}

/// <summary>The answer of <c>/debug/memory</c>: bytes of live managed objects, committed GC memory, resident set.</summary>
internal sealed record MemoryReport(long GcHeapBytes, long GcCommittedBytes, long RssBytes, int Connections);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(MemoryReport))]
internal sealed partial class DiagnosticsJson : System.Text.Json.Serialization.JsonSerializerContext;
