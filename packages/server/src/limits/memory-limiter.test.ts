import { limiterContract } from './limiter.contract.js';
import { MemoryLimiter } from './memory-limiter.js';

limiterContract('in-process', async () => new MemoryLimiter());
