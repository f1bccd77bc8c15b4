import { requestUrl } from '../../local/http-adapter';

describe('requestUrl', () => {
  it.each([
    ['/webhook/contoso?validationToken=a%20b', '/webhook/contoso'],
    ['http://evil.example/webhook/contoso', '/webhook/contoso'],
    ['/webhook/contoso/../other', '/webhook/other'],
    [undefined, '/'],
  ])('reads the path of %s', (target, path) => {
    // Prepare
    const input = target;

    // Act
    const url = requestUrl(input);

    // Assess
    expect(url?.pathname).toBe(path);
  });

  it.each(['http://[', 'http://a b/', 'http://:99999/'])('answers undefined for the malformed target %s instead of throwing', (target) => {
    // Prepare
    const input = target;

    // Act
    const url = requestUrl(input);

    // Assess
    expect(url).toBeUndefined();
  });
});
