// Backpressure, measured, in the send direction: see test/helpers/backpressure.ts.
import t from 'tap';
import { backpressureCases } from './helpers/backpressure.js';

backpressureCases(t, 'send');
