import t from 'tap';
import * as api from '../src/index.js';

t.test('index exports exactly the public API', async (t) => {
  t.same(Object.keys(api).sort(), [
    'AF_INET', 'AF_INET6', 'AF_UNIX', 'AcceptQueueFullError', 'AsyncChat', 'BadDescriptorError', 'Channel',
    'ChannelBase', 'ChannelClosedError', 'ChannelMap', 'ChannelStateError', 'ConnectTimeoutError', 'Connections', 'DatagramBase',
    'Dispatcher', 'DispatcherWithSend', 'EventLoop', 'ExitNow', 'FileDispatcher', 'FrameIterator',
    'FrameReader', 'FrameTooLongError', 'IdleTimeoutError', 'IncompleteFrameError', 'Loop', 'SHUT_RD',
    'SHUT_RDWR', 'SHUT_WR', 'SOCK_DGRAM', 'SOCK_STREAM', 'Server', 'ServerClosingError', 'SimpleProducer', 'TlsCertificateError',
    'TlsHandshakeError', 'TlsHandshakeTimeoutError', 'TlsHostnameError', 'UnsupportedError', 'channelPair',
    'closeAll', 'connect', 'encodeFrame', 'formatAddress', 'frames', 'lines', 'listen', 'loop',
    'openDescriptor', 'serve', 'socketMap',
  ]);
});

t.test('index errors carry stable codes and names', async (t) => {
  t.equal(new api.ChannelClosedError().code, 'ERR_CHANNEL_CLOSED');
  t.equal(new api.ChannelStateError('x').code, 'ERR_CHANNEL_STATE');
  t.equal(new api.UnsupportedError('x').code, 'ERR_NOT_SUPPORTED');
  t.equal(new api.AcceptQueueFullError(3).code, 'ERR_ACCEPT_QUEUE_FULL');
  t.equal(new api.IdleTimeoutError(30).code, 'ERR_CHANNEL_IDLE_TIMEOUT');
  t.equal(new api.IdleTimeoutError(30).name, 'IdleTimeoutError');
  t.equal(new api.BadDescriptorError(7, 'file').code, 'ERR_BAD_DESCRIPTOR');
  t.equal(new api.ExitNow().name, 'ExitNow');
  t.equal(new api.FrameTooLongError(70000, 65536).code, 'ERR_FRAME_TOO_LONG');
  t.equal(new api.FrameTooLongError(70000, 65536).name, 'FrameTooLongError');
  t.equal(new api.TlsHandshakeError('x').code, 'ERR_TLS_HANDSHAKE');
  t.equal(new api.TlsHandshakeTimeoutError(1).code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
  t.equal(new api.TlsCertificateError('CERT_HAS_EXPIRED').code, 'ERR_TLS_CERTIFICATE');
  t.equal(new api.TlsHostnameError('x').code, 'ERR_TLS_HOSTNAME');
  t.equal(new api.FrameTooLongError(9, 8).code, 'ERR_FRAME_TOO_LONG');
  t.equal(new api.IncompleteFrameError(Buffer.alloc(1), 2).code, 'ERR_INCOMPLETE_FRAME');
  t.equal(new api.ServerClosingError().code, 'ERR_SERVER_CLOSING');
  t.equal(new api.ConnectTimeoutError(5).code, 'ERR_CONNECT_TIMEOUT');
  t.equal(new api.ConnectTimeoutError(5).seconds, 5);
  const cause = new Error('root');
  t.equal(new api.ChannelClosedError('Cannot write: closed', { cause }).cause, cause);
});
