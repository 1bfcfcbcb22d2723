using System.Text;

namespace Parley.Bus.Tests.Support;

/// <summary>Unique topics and ready-made events for bus tests.</summary>
public static class Events
{
    /// <summary>A conversation topic no other test uses.</summary>
    public static BusTopic NewConversation() => BusTopic.ForConversation("c" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>A message event of <paramref name="topic"/> with the given seq, as <paramref name="origin"/> would publish it.</summary>
    public static BusEvent Message(BusTopic topic, long seq, string origin) =>
        new(BusEventKind.Message, topic.Id, seq, "", origin, Encoding.UTF8.GetBytes($"{{\"op\":\"msg\",\"conv\":\"{topic.Id}\",\"seq\":{seq}}}"));

    /// <summary>The seqs of a list of events, in order.</summary>
    public static long[] Seqs(this IEnumerable<BusEvent> events) => [.. events.Select(e => e.Seq)];
}
