import { answerHandshake, escapeHtml } from '../../shared/graph/handshake';

describe('escapeHtml', () => {
  it.each([
    ['&', '&amp;'],
    ['<', '&lt;'],
    ['>', '&gt;'],
    ['"', '&quot;'],
    ["'", '&#39;'],
  ])('escapes %s as %s', (raw, escaped) => {
    // Prepare
    const text = `x${raw}y`;

    // Act
    const result = escapeHtml(text);

    // Assess
    expect(result).toBe(`x${escaped}y`);
  });

  it('escapes every occurrence and escapes "&" only once', () => {
    // Prepare
    const text = '<script>alert("a&b")</script>&amp;';

    // Act
    const result = escapeHtml(text);

    // Assess
    expect(result).toBe('&lt;script&gt;alert(&quot;a&amp;b&quot;)&lt;/script&gt;&amp;amp;');
  });

  it('leaves a token made of ordinary characters unchanged', () => {
    // Prepare
    const token = 'Validation: Testing client application reachability for subscription Request-Id: 2f3f9c8b-8a3e-4c6f-9d2b-1c0e5a7b9d11';

    // Act
    const result = escapeHtml(token);

    // Assess
    expect(result).toBe(token);
  });
});

describe('answerHandshake', () => {
  it('answers nothing when there is no validation token', () => {
    // Prepare
    const token = undefined;

    // Act
    const response = answerHandshake(token);

    // Assess
    expect(response).toBeUndefined();
  });

  it('answers 200 text/plain with the token as the only body', () => {
    // Prepare
    const token = 'Validation: Testing client application reachability for subscription Request-Id: 2f3f9c8b-8a3e-4c6f-9d2b-1c0e5a7b9d11';

    // Act
    const response = answerHandshake(token);

    // Assess
    expect(response).toEqual({
      statusCode: 200,
      headers: expect.objectContaining({
        'content-type': 'text/plain; charset=utf-8',
        'x-content-type-options': 'nosniff',
      }),
      body: token,
    });
  });

  it('never reflects markup', () => {
    // Prepare
    const token = '<img src=x onerror="alert(1)">';

    // Act
    const response = answerHandshake(token);

    // Assess
    expect(response?.body).toBe('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
    expect(response?.body).not.toContain('<');
  });
});
