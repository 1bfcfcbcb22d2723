using Parley.Protocol;

namespace Parley.Server.Auth;

/// <summary>Registration and login: validated input, slow password hashes, throttled guessing, issued tokens.</summary>
public sealed class AccountService
{
    private readonly IChatStore _store;
    private readonly PasswordHasher _hasher;
    private readonly TokenService _tokens;
    private readonly AttemptThrottle _throttle;
    private readonly AttemptThrottle? _registrations;

    /// <summary>Creates the service; <paramref name="registrations"/> counts registrations per address (null: no limit).</summary>
    public AccountService(IChatStore store, PasswordHasher hasher, TokenService tokens, AttemptThrottle throttle, AttemptThrottle? registrations = null)
    {
        _store = store;
        _hasher = hasher;
        _tokens = tokens;
        _throttle = throttle;
        _registrations = registrations;
    }

    /// <summary>
    /// Registers a user and logs them in; <c>conflict</c> when the name is taken, <c>rate_limited</c> when
    /// <paramref name="address"/> has registered too often lately (taken names count: they are how names are probed).
    /// </summary>
    public async Task<AuthResponse> RegisterAsync(string? username, string? password, string address)
    {
        var name = ProtocolRules.NormalizeUsername(username) ?? throw ParleyException.Invalid("username must be 3-32 characters of [A-Za-z0-9_.-]");
        if (!ProtocolRules.IsValidPassword(password))
        {
            throw ParleyException.Invalid("password must be 8-256 characters");
        }

        if (_registrations is not null && !_registrations.TryBegin(name, address, out _))
        {
            throw new ParleyException(ErrorCodes.RateLimited, "too many registrations from this address; retry later");
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

        if (!_throttle.TryBegin(name, address, out var attempt))
        {
            throw new ParleyException(ErrorCodes.RateLimited, "too many failed logins; retry later");
        }

        var wrongGuess = false;
        try
        {
            var user = await Chat.ChatService.Guard(() => _store.FindUserByNameAsync(name, CancellationToken.None));
            var ok = await _hasher.VerifyAsync(password!, user?.PasswordHash ?? _hasher.DummyHash);
            if (user is null || !ok)
            {
                wrongGuess = true;
                throw WrongCredentials();
            }

            return Issue(user);
        }
        finally
        {
            // Counted when it began: only a wrong guess keeps its count (not a success, a full hash queue, a store outage).
            if (!wrongGuess)
            {
                _throttle.Refund(name, address, attempt);
            }
        }
    }

    private AuthResponse Issue(User user)
    {
        var (token, expires) = _tokens.Issue(user.Id, user.Username);
        return new AuthResponse(user.Id, user.Username, token, expires.ToUnixTimeMilliseconds());
    }

    private static ParleyException WrongCredentials() => new(ErrorCodes.Unauthorized, "wrong username or password");
}
