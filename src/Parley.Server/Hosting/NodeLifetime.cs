namespace Parley.Server.Hosting;

/// <summary>Starts the node with the host and drains it (close 1012, wait) when the host stops (SIGTERM).</summary>
internal sealed class NodeLifetime(ParleyNode node, ServerSettings settings, ILogger<NodeLifetime> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => node.StartAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        log.LogInformation("draining node {Node}", node.Options.NodeId);
        await node.DrainAsync(TimeSpan.FromSeconds(settings.DrainSeconds));
        // Stop the writer and backends now, while the host still runs; the container's later dispose is a no-op.
        await node.DisposeAsync();
    }
}
