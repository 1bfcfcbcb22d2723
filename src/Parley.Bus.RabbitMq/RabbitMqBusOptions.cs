namespace Parley.Bus.RabbitMq;

/// <summary>Settings of <see cref="RabbitMqBus"/>; only <see cref="NodeId"/> has no default.</summary>
public sealed class RabbitMqBusOptions
{
    /// <summary>The broker's AMQP URI, credentials and virtual host included.</summary>
    public string Uri { get; set; } = "amqp://guest:guest@127.0.0.1:5672/";

    /// <summary>
    /// This node's id, unique in the cluster: it names the node's queue (<c>parley.node.&lt;NodeId&gt;</c>) and marks the
    /// node's own publications. At most 200 characters.
    /// </summary>
    public string NodeId { get; set; } = "";

    /// <summary>The topic exchange every node publishes to; declared durable if missing.</summary>
    public string Exchange { get; set; } = "parley";

    /// <summary>
    /// Bound of the outgoing queue (events waiting for the broker) and of the delivery queue (events waiting for the
    /// handler). When one is full, <see cref="RabbitMqBus.Publish"/> drops the event and returns false.
    /// </summary>
    public int MaxPendingPublishes { get; set; } = 100_000;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(NodeId) || NodeId.Length > 200)
        {
            throw new ArgumentException("NodeId must have 1 to 200 characters.", nameof(NodeId));
        }

        if (string.IsNullOrWhiteSpace(Exchange) || Exchange.Length > 200)
        {
            throw new ArgumentException("Exchange must have 1 to 200 characters.", nameof(Exchange));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingPublishes, 1, nameof(MaxPendingPublishes));
        if (!System.Uri.TryCreate(Uri, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps"))
        {
            throw new ArgumentException("Uri must be an absolute amqp:// or amqps:// URI.", nameof(Uri));
        }
    }
}
