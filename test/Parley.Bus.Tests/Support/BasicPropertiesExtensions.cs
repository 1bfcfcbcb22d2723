using RabbitMQ.Client;

namespace Parley.Bus.Tests.Support;

/// <summary>Builds variations of AMQP properties for tests that publish raw messages.</summary>
internal static class BasicPropertiesExtensions
{
    /// <summary>Applies <paramref name="change"/> and returns the same properties.</summary>
    public static BasicProperties With(this BasicProperties properties, Action<BasicProperties> change)
    {
        change(properties);
        return properties;
    }
}
