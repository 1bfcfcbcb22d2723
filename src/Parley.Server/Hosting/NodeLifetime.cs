namespace Parley.Server.Hosting;

/// <summary>
/// Starts the node with the host and drains it when the host stops (SIGTERM): the drain runs in the host's "stopping"
/// phase, before Kestrel stops, so clients still receive the 1012 close frames and resume on other nodes.
/// </summary>
internal sealed class NodeLifetime(ParleyNode node, ServerSettings settings, ILogger<NodeLifetime> log) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => node.StartAsync(cancellationToken);

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        log.LogInformation("draining node {Node}", node.Options.NodeId);
        await node.DrainAsync(TimeSpan.FromSeconds(settings.DrainSeconds));
    }

    // Stop the writer and backends while the host still runs; the container's later dispose is a no-op.
    public async Task StopAsync(CancellationToken cancellationToken) => await node.DisposeAsync();

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
