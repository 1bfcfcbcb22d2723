namespace Parley.Delivery;

/// <summary>The transport side of one client connection, as the hub sees it.</summary>
public interface IFrameSink
{
    /// <summary>
    /// Queues one complete frame for sending, without blocking. False when the connection's bounded outbound queue is
    /// full (the transport then closes it as a slow consumer) or the connection is closed. The bytes may be shared with
    /// other connections and must not be modified.
    /// </summary>
    bool TrySend(ReadOnlyMemory<byte> frame);

    /// <summary>Closes the connection with a WebSocket close code and reason. Idempotent.</summary>
    void Close(int closeCode, string reason);
}
