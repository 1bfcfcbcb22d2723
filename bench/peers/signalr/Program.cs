// Benchmark peer: the SignalR chat the ASP.NET Core docs show — a hub with groups for rooms and Clients.User for
// private messages — in one process (its Redis backplane cannot be restored here). It stores nothing and
// acknowledges nothing. /debug/memory answers the managed heap after a forced collection (none with ?collect=false) and the RSS.
using System.Diagnostics;
using Microsoft.AspNetCore.SignalR;

var builder = WebApplication.CreateBuilder(args);
// Kestrel's default accept queue (512) unless the benchmark asks for another (LISTEN_BACKLOG, an experiment).
if (int.TryParse(Environment.GetEnvironmentVariable("LISTEN_BACKLOG"), out var backlog) && backlog > 0)
{
    builder.WebHost.UseSockets(o => o.Backlog = backlog);
}

builder.Services.AddSignalR();
builder.Services.AddSingleton<IUserIdProvider, QueryUserIdProvider>();
builder.Services.AddSingleton<ConnectionCounter>();
var app = builder.Build();
app.UseWebSockets();
app.MapHub<ChatHub>("/chat");
app.MapGet("/debug/memory", (ConnectionCounter counter, bool? collect) =>
{
    if (collect != false)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    using var self = Process.GetCurrentProcess();
    return Results.Text($"{{\"gcHeapBytes\":{GC.GetTotalMemory(false)},\"rssBytes\":{self.WorkingSet64},\"connections\":{counter.Count}}}", "application/json");
});
app.Run();

/// <summary>The chat hub: rooms are SignalR groups; direct messages go to Clients.User.</summary>
internal sealed class ChatHub(ConnectionCounter counter) : Hub
{
    public override Task OnConnectedAsync()
    {
        counter.Add(1);
        return base.OnConnectedAsync();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        counter.Add(-1);
        return base.OnDisconnectedAsync(exception);
    }

    public async Task Join(string[] rooms)
    {
        foreach (var room in rooms)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, room);
        }
    }

    public Task SendToRoom(string room, string body) =>
        Clients.Group(room).SendAsync("msg", room, Context.UserIdentifier, body, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    public Task SendToUser(string to, string body) =>
        Clients.User(to).SendAsync("dm", Context.UserIdentifier, body, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
}

/// <summary>The user is named in the query string (a demo's stand-in for authentication).</summary>
internal sealed class QueryUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection) => connection.GetHttpContext()?.Request.Query["user"];
}

internal sealed class ConnectionCounter
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public void Add(int delta) => Interlocked.Add(ref _count, delta);
}
