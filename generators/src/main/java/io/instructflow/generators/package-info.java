/**
 * Data generators (no Beam): Self-Instruct, Evol-Instruct and preference-pair prompt builders, output
 * parsers and round logic, on top of the inference module. Built by the generator issues.
 */
package io.instructflow.generators;
