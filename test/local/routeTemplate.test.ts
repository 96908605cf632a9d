import { describe, expect, test } from 'vitest';
import { compareRoutePrecedence, compileRouteTemplate } from '../../dev/local/host/routeTemplate.js';

describe('route templates', () => {
  test('literal and parameter segments, case-insensitive literals, decoded values', () => {
    const route = compileRouteTemplate('jobs/{jobId}/cancel');
    expect(route.match('jobs/abc/cancel')).toEqual({ jobId: 'abc' });
    expect(route.match('JOBS/a%20b/Cancel/')).toEqual({ jobId: 'a b' });
    expect(route.match('jobs/abc')).toBeUndefined();
    expect(route.match('jobs/abc/cancel/more')).toBeUndefined();
  });

  test('optional, defaulted and catch-all parameters', () => {
    expect(compileRouteTemplate('files/{name?}').match('files')).toEqual({});
    expect(compileRouteTemplate('files/{name?}').match('files/a.txt')).toEqual({ name: 'a.txt' });
    expect(compileRouteTemplate('page/{n=1}').match('page')).toEqual({ n: '1' });
    expect(compileRouteTemplate('static/{*path}').match('static/css/site.css')).toEqual({ path: 'css/site.css' });
    expect(compileRouteTemplate('static/{*path}').match('static')).toEqual({});
  });

  test('constraints', () => {
    expect(compileRouteTemplate('items/{id:int}').match('items/42')).toEqual({ id: '42' });
    expect(compileRouteTemplate('items/{id:int}').match('items/4x')).toBeUndefined();
    expect(compileRouteTemplate('items/{id:guid}').match('items/3f2504e0-4f89-11d3-9a0c-0305e82c3301')).toBeDefined();
    // ASP.NET's escaped braces and plain ones both work.
    expect(compileRouteTemplate('items/{code:regex(^\\d{{3}}$)}').match('items/123')).toEqual({ code: '123' });
    expect(compileRouteTemplate('items/{code:regex(^\\d{{3}}$)}').match('items/1234')).toBeUndefined();
    expect(compileRouteTemplate('items/{code:regex(^[a-z]{3}$)}').match('items/abc')).toEqual({ code: 'abc' });
    expect(compileRouteTemplate('items/{code:regex(^[a-z]{3}$)}').match('items/abcd')).toBeUndefined();
    expect(compileRouteTemplate('items/{n:min(10):max(20)}').match('items/15')).toEqual({ n: '15' });
    expect(compileRouteTemplate('items/{n:range(10,20)}').match('items/25')).toBeUndefined();
    expect(compileRouteTemplate('items/{s:length(2,3)}').match('items/abcd')).toBeUndefined();
  });

  test('several parameters in one segment', () => {
    expect(compileRouteTemplate('files/{name}.{ext}').match('files/report.final.pdf')).toEqual({
      name: 'report',
      ext: 'final.pdf',
    });
  });

  test('bad templates fail with the template in the message', () => {
    expect(() => compileRouteTemplate('items/{id:nope}')).toThrow(/items\/\{id:nope\}.*unknown constraint/);
    expect(() => compileRouteTemplate('items/{id')).toThrow(/unclosed/);
    expect(() => compileRouteTemplate('{*rest}/more')).toThrow(/catch-all/);
    expect(() => compileRouteTemplate('a/{x?}/b')).toThrow(/optional/);
    expect(() => compileRouteTemplate('a/{x}/{x}')).toThrow(/twice/);
  });

  test('precedence: literal, then constrained, then plain parameter, then catch-all', () => {
    const routes = ['items/{*rest}', 'items/{name}', 'items/{id:int}', 'items/special'].map(compileRouteTemplate);
    expect([...routes].sort(compareRoutePrecedence).map((r) => r.template)).toEqual([
      'items/special',
      'items/{id:int}',
      'items/{name}',
      'items/{*rest}',
    ]);
  });
});
