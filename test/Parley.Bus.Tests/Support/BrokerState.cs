using System.Text.Json;
using Parley.Testing;

namespace Parley.Bus.Tests.Support;

/// <summary>What the broker itself says about queues and bindings, read with rabbitmqctl.</summary>
public static class BrokerState
{
    /// <summary>The routing keys binding <paramref name="queue"/> to <paramref name="exchange"/>.</summary>
    public static async Task<SortedSet<string>> BindingsAsync(RabbitMqServer server, string queue, string exchange = "parley") =>
        (await AllBindingsAsync(server, exchange)).GetValueOrDefault(queue) ?? [];

    /// <summary>Every queue bound to <paramref name="exchange"/> with its routing keys (one rabbitmqctl call: they are slow).</summary>
    public static async Task<Dictionary<string, SortedSet<string>>> AllBindingsAsync(RabbitMqServer server, string exchange = "parley")
    {
        var json = await server.RabbitmqctlAsync("list_bindings", "-q", "--formatter", "json", "source_name", "destination_name", "routing_key");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray()
            .Where(b => b.GetProperty("source_name").GetString() == exchange)
            .GroupBy(b => b.GetProperty("destination_name").GetString()!)
            .ToDictionary(g => g.Key, g => new SortedSet<string>(g.Select(b => b.GetProperty("routing_key").GetString()!), StringComparer.Ordinal));
    }

    /// <summary>The queues on the broker by name, with their durable/auto-delete/exclusive flags.</summary>
    public static async Task<Dictionary<string, (bool Durable, bool AutoDelete, bool Exclusive)>> QueuesAsync(RabbitMqServer server)
    {
        var json = await server.RabbitmqctlAsync("list_queues", "-q", "--formatter", "json", "name", "durable", "auto_delete", "exclusive");
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().ToDictionary(
            q => q.GetProperty("name").GetString()!,
            q => (q.GetProperty("durable").GetBoolean(), q.GetProperty("auto_delete").GetBoolean(), q.GetProperty("exclusive").GetBoolean()));
    }
}
