// One parser for proxy URLs: the connector's (it builds the agents from the same parse).
export { PROXY_SCHEMES, proxyUrlProblem } from '../whatsapp/proxy.js';
