"""StateSet Voice: realtime voice-agent calls, listed by `GET /api/v1/voice-sessions` with
limit/offset paging, no promised order and no time filter; every list entry carries its full
transcript and function calls."""
