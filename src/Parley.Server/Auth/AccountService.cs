using Parley.Protocol;

namespace Parley.Server.Auth;

/// <summary>Registration and login: validated input, slow password hashes, throttled guessing, issued tokens.</summary>
public sealed class AccountService
{
    private readonly IChatStore _store;
    private readonly PasswordHasher _hasher;
    private readonly TokenService _tokens;
    private readonly LoginThrottle _throttle;

    /// <summary>Creates the service.</summary>
    public AccountService(IChatStore store, PasswordHasher hasher, TokenService tokens, LoginThrottle throttle)
    {
        _store = store;
        _hasher = hasher;
        _tokens = tokens;
        _throttle = throttle;
    }

    /// <summary>Registers a user and logs them in; <c>conflict</c> when the name is taken.</summary>
    public async Task<AuthResponse> RegisterAsync(string? username, string? password)
    {
        var name = ProtocolRules.NormalizeUsername(username) ?? throw ParleyException.Invalid("username must be 3-32 characters of [A-Za-z0-9_.-]");
        if (!ProtocolRules.IsValidPassword(password))
        {
            throw ParleyException.Invalid("password must be 8-256 characters");
        }

        if (await Chat.ChatService.Guard(() => _store.FindUserByNameAsync(name, CancellationToken.None)) is not null)
        {
            throw new ParleyException(ErrorCodes.Conflict, "username taken");
        }

        var hash = await _hasher.HashAsync(password!);
        var user = new User(Ids.New("u", 16), name, hash, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var created = await Chat.ChatService.Guard(() => _store.CreateUserAsync(user, CancellationToken.None))
            ?? throw new ParleyException(ErrorCodes.Conflict, "username taken");
        return Issue(created);
    }

    /// <summary>Logs a user in. Unknown name and wrong password get the same answer in similar time.</summary>
    public async Task<AuthResponse> LoginAsync(string? username, string? password, string address)
    {
        var name = ProtocolRules.NormalizeUsername(username);
        // Over-long passwords are refused before hashing (a 1 MB password must not cost a PBKDF2 run).
        if (name is null || !ProtocolRules.IsValidPassword(password))
        {
            throw WrongCredentials();
        }

        if (!_throttle.Allows(name, address))
        {
            throw new ParleyException(ErrorCodes.RateLimited, "too many failed logins; retry later");
        }

        var user = await Chat.ChatService.Guard(() => _store.FindUserByNameAsync(name, CancellationToken.None));
        var ok = await _hasher.VerifyAsync(password!, user?.PasswordHash ?? _hasher.DummyHash);
        if (user is null || !ok)
        {
            _throttle.Failed(name, address);
            throw WrongCredentials();
        }

        return Issue(user);
    }

    private AuthResponse Issue(User user)
    {
        var (token, expires) = _tokens.Issue(user.Id, user.Username);
        return new AuthResponse(user.Id, user.Username, token, expires.ToUnixTimeMilliseconds());
    }

    private static ParleyException WrongCredentials() => new(ErrorCodes.Unauthorized, "wrong username or password");
}
