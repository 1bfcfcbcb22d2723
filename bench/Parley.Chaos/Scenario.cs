using Parley.Testing.Cluster;

namespace Parley.Chaos;

/// <summary>
/// One fault of the campaign. The runner starts a fresh cluster, runs the workload, calls <see cref="InjectAsync"/>
/// after the warm-up (which injects, waits, heals and marks the fault window), lets clients catch up, checks, then
/// calls <see cref="AfterAsync"/> for the scenario's own expectations.
/// </summary>
public abstract class Scenario : IAsyncDisposable
{
    /// <summary>The command-line name, e.g. <c>node-kill</c>.</summary>
    public abstract string Name { get; }

    /// <summary>What is done to the cluster, one sentence.</summary>
    public abstract string Fault { get; }

    /// <summary>What the campaign expects besides lost = duplicated = unexpected = order violations = 0.</summary>
    public virtual string Expectation => "nothing more";

    /// <summary>Users beyond the workload's that only hold a DM and never send (the reconnect storm).</summary>
    public virtual int IdleUsers(CampaignOptions options) => 0;

    /// <summary>Per-node settings and environment (e.g. a fault proxy in front of one backend for one node).</summary>
    public virtual NodeOverrides? ConfigureNode(ParleyCluster cluster, int node) => null;

    /// <summary>The address client <paramref name="user"/> connects to; nginx unless a scenario puts a proxy in between.</summary>
    public virtual Uri ClientBase(ParleyCluster cluster, int user) => cluster.BaseUri;

    /// <summary>Runs before the clients connect.</summary>
    public virtual Task PrepareAsync(ParleyCluster cluster) => Task.CompletedTask;

    /// <summary>Injects the fault, waits, heals; calls <see cref="RunContext.FaultStarted"/> and <see cref="RunContext.FaultEnded"/>.</summary>
    public abstract Task InjectAsync(RunContext ctx);

    /// <summary>The scenario's own figures and expectations, once every client caught up.</summary>
    public virtual Task AfterAsync(RunContext ctx) => Task.CompletedTask;

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
