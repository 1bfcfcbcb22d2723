using System.Net;
using System.Net.Sockets;

namespace Parley.Security.Tests.Support;

/// <summary>HTTP clients with a chosen source address: every 127.0.0.x reaches a loopback listener, so one test can be many clients.</summary>
public static class Clients
{
    /// <summary>An HttpClient whose connections come from <paramref name="source"/> (e.g. 127.0.0.7).</summary>
    public static HttpClient From(Uri baseUri, string source)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler, disposeHandler: true) { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>Posts JSON and returns the status code.</summary>
    public static async Task<HttpStatusCode> PostStatusAsync(this HttpClient http, string path, object body, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = System.Net.Http.Json.JsonContent.Create(body) };
        configure?.Invoke(request);
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }
}
