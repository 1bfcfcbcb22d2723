using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Parley.Testing;

/// <summary>A REST answer: status and parsed JSON body (Undefined when empty).</summary>
public sealed record ApiAnswer(HttpStatusCode Status, JsonElement Body)
{
    /// <summary>The error code of an error answer.</summary>
    public string? ErrorCode => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("error", out var e) ? e.Str("code") : null;
}

/// <summary>A registered test user with their token.</summary>
public sealed record TestUser(string UserId, string Username, string Token);

/// <summary>Thin REST client for tests: raw calls returning status and JSON, plus typed shortcuts.</summary>
public sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;

    /// <summary>Creates a client for a node.</summary>
    public ApiClient(Uri baseUri) => _http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Any call with an optional JSON body and bearer token.</summary>
    public async Task<ApiAnswer> CallAsync(HttpMethod method, string path, object? body = null, string? token = null, string? rawBody = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (rawBody is not null)
        {
            request.Content = new StringContent(rawBody, Encoding.UTF8, "application/json");
        }
        else if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var isJson = response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.Ordinal) == true;
        var json = text.Length == 0 ? default
            : isJson ? JsonDocument.Parse(text).RootElement.Clone()
            : JsonSerializer.SerializeToElement(text);
        return new ApiAnswer(response.StatusCode, json);
    }

    /// <summary>Registers a user with a unique name built from <paramref name="prefix"/>.</summary>
    public async Task<TestUser> RegisterAsync(string prefix = "user", string password = "correct horse battery")
    {
        var name = $"{prefix}{Guid.NewGuid():N}"[..Math.Min(32, prefix.Length + 12)];
        var answer = await CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username = name, password });
        if (answer.Status != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"register failed: {answer.Status} {answer.Body}");
        }

        return new TestUser(answer.Body.Str("userId")!, answer.Body.Str("username")!, answer.Body.Str("token")!);
    }

    /// <summary>Creates a room; returns its id.</summary>
    public async Task<string> CreateRoomAsync(TestUser owner, string name = "room", bool isPrivate = false)
    {
        var answer = await CallAsync(HttpMethod.Post, "api/v1/rooms", new { name, @private = isPrivate }, owner.Token);
        return answer.Status == HttpStatusCode.Created ? answer.Body.Str("id")! : throw new InvalidOperationException($"create room failed: {answer.Status} {answer.Body}");
    }

    /// <summary>Joins a public room.</summary>
    public Task<ApiAnswer> JoinAsync(TestUser user, string room) => CallAsync(HttpMethod.Post, $"api/v1/rooms/{room}/join", token: user.Token);

    /// <summary>Owner adds a member.</summary>
    public Task<ApiAnswer> AddMemberAsync(TestUser caller, string room, string username) =>
        CallAsync(HttpMethod.Post, $"api/v1/rooms/{room}/members", new { username }, caller.Token);

    /// <summary>Leaves a room.</summary>
    public Task<ApiAnswer> LeaveAsync(TestUser user, string room) => CallAsync(HttpMethod.Post, $"api/v1/rooms/{room}/leave", token: user.Token);

    /// <summary>Opens the DM with a user; returns its id.</summary>
    public async Task<string> OpenDmAsync(TestUser user, string peerUsername)
    {
        var answer = await CallAsync(HttpMethod.Post, "api/v1/dms", new { username = peerUsername }, user.Token);
        return answer.Status == HttpStatusCode.OK ? answer.Body.Str("id")! : throw new InvalidOperationException($"dm failed: {answer.Status} {answer.Body}");
    }

    /// <summary>Reads history.</summary>
    public Task<ApiAnswer> HistoryAsync(TestUser user, string conv, string query = "") =>
        CallAsync(HttpMethod.Get, $"api/v1/conversations/{conv}/messages{query}", token: user.Token);

    /// <summary>Every message of a conversation, ascending, read page by page.</summary>
    public async Task<List<JsonElement>> AllMessagesAsync(TestUser user, string conv)
    {
        var all = new List<JsonElement>();
        long after = 0;
        while (true)
        {
            var page = await HistoryAsync(user, conv, $"?after={after}&limit=200");
            if (page.Status != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"history failed: {page.Status} {page.Body}");
            }

            var messages = page.Body.GetProperty("messages").EnumerateArray().ToList();
            all.AddRange(messages);
            if (!page.Body.GetProperty("hasMore").GetBoolean() || messages.Count == 0)
            {
                return all;
            }

            after = messages[^1].Long("seq");
        }
    }

    /// <summary>The caller's conversations.</summary>
    public Task<ApiAnswer> ConversationsAsync(TestUser user) => CallAsync(HttpMethod.Get, "api/v1/conversations", token: user.Token);

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
